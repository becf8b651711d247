"""Lambda entry point: salesAnalysisReport."""

from __future__ import annotations

import logging
from typing import Any

from .event import requested_date
from .pipeline import fetch_through_extractor, publish_to_topic, run_report
from .settings import Settings

# The runtime's JSON log handler sits on the root logger; ours only sets the level.
logging.getLogger("reporter").setLevel(logging.INFO)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Report on today (or the event's reportDate) and publish it; return what was sent."""
    settings = Settings.from_env()
    day = requested_date(event, settings.timezone)
    outcome = run_report(
        day,
        settings.timezone.key,
        fetch=fetch_through_extractor(settings),
        publish=publish_to_topic(settings),
    )
    return outcome.summary()
