"""Benchmarks for the café report: data at scale, the query, cold start, memory, report size.

Run with `python -m bench` (see bench/RESULTS.md). Never part of the test suite's timings: the
smoke test in tests/integration/test_bench_smoke.py checks only that it runs and is correct.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "bench" / "out"

# The bench reuses the test harnesses (tests/support: the Runtime-API harness, moto's server,
# the database helpers). pytest puts tests/ on the path itself; `python -m bench` needs this.
_TESTS = str(REPO_ROOT / "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
