"""Lambda entry point: salesAnalysisReportDataExtractor."""

from __future__ import annotations

import logging
from typing import Any

from .event import parse_event
from .sales import extract_sales

# The runtime's JSON log handler sits on the root logger, at the function's log level (WARN by
# default): our step lines are INFO, so let them through, and anything lower if asked for.
logging.getLogger("extractor").setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Return {"statusCode": 200, "reportDate": ..., "body": [row, ...]} or raise."""
    request = parse_event(event)
    rows = extract_sales(request)
    return {"statusCode": 200, "reportDate": request.report_date.isoformat(), "body": rows}
