"""Tiny Lambda handlers the Runtime API harness tests run under the real awslambdaric."""
