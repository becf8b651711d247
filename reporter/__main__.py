"""Allows `python -m reporter`."""

import sys

from .cli import main

sys.exit(main())
