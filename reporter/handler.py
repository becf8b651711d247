"""Lambda entry point: salesAnalysisReport."""

from __future__ import annotations

import logging
from typing import Any

from .event import requested_date
from .pipeline import fetch_through_extractor, publish_to_topic, run_report
from .settings import Settings

log = logging.getLogger("reporter")
# The runtime's JSON log handler sits on the root logger, at the function's log level (WARN by
# default): our step lines are INFO, so let them through, and anything lower if asked for.
log.setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
# botocore logs whole request bodies at DEBUG, and the extractor's payload carries the database
# password: keep the SDK's loggers at INFO even when the function's log level is DEBUG.
for _sdk in ("boto3", "botocore", "s3transfer", "urllib3"):
    logging.getLogger(_sdk).setLevel(logging.INFO)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Report on today (or the event's reportDate) and publish it; return what was sent."""
    settings = Settings.from_env()
    day = requested_date(event, settings.timezone)
    log.debug(
        "reporting %s with extractor %s, parameters under %s",
        day,
        settings.extractor_function,
        settings.ssm_prefix,
    )
    outcome = run_report(
        day,
        settings.timezone.key,
        fetch=fetch_through_extractor(settings),
        publish=publish_to_topic(settings),
    )
    return outcome.summary()
