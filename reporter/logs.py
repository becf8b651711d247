"""Timed steps as log records; the Lambda runtime's JSON formatter turns the fields into keys."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from .errors import ReporterError

log = logging.getLogger("reporter")


@contextlib.contextmanager
def step(name: str) -> Iterator[dict[str, Any]]:
    """Time the block and log one line for it; the block may add fields (e.g. rows) to the dict."""
    fields: dict[str, Any] = {}
    began = time.perf_counter()
    try:
        yield fields
    except ReporterError as exc:
        ms = _ms(began)
        log.error("%s failed after %.1f ms: %s", name, ms, exc, extra={"step": name, "ms": ms})
        raise
    ms = _ms(began)
    log.info("%s took %.1f ms", name, ms, extra={"step": name, "ms": ms, **fields})


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)
