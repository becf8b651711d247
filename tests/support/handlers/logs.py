"""Logs with the logging module, so tests can read awslambdaric's JSON log line."""

import logging
from typing import Any

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    """Log one INFO line carrying the event's marker."""
    logger.info("handled", extra={"marker": event.get("marker")})
    return {"logged": True}
