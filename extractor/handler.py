"""Lambda entry point: salesAnalysisReportDataExtractor."""

from __future__ import annotations

import logging
import time
from typing import Any

from .event import parse_event
from .sales import extract_sales

# The runtime's JSON log handler sits on the root logger, at the function's log level (WARN by
# default): our step lines are INFO, so let them through, and anything lower if asked for.
logging.getLogger("extractor").setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))

# Kept back from the invocation's remaining time to log the failure and return the error.
MARGIN_S = 1.0


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Return {"statusCode": 200, "reportDate": ..., "body": [row, ...]} or raise."""
    request = parse_event(event)
    rows = extract_sales(request, deadline(context))
    return {"statusCode": 200, "reportDate": request.report_date.isoformat(), "body": rows}


def deadline(context: Any) -> float | None:
    """When the database conversation must end (time.monotonic()); None without a context."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return time.monotonic() + remaining_ms() / 1000 - MARGIN_S
