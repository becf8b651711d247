"""Lambda entry point: salesAnalysisReport."""

from __future__ import annotations

import logging
from typing import Any

from .deadline import Deadline
from .event import requested_date, requested_resend
from .pipeline import delivery_log, fetch_through_extractor, publish_to_topic, run_report
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
    """Report on today (or the event's day) and publish it once; return what was sent."""
    settings = Settings.from_env(need_delivery_table=True)
    day = requested_date(event, settings.timezone)
    resend = requested_resend(event)
    log.debug(
        "reporting %s%s with extractor %s, parameters under %s, deliveries in %s",
        day,
        " (re-send)" if resend else "",
        settings.extractor_function,
        settings.ssm_prefix,
        settings.delivery_table,
    )
    # Every remote call gets a share of what is left, so a hung dependency is named in our
    # error before Lambda's "Task timed out".
    deadline = Deadline.from_context(context)
    outcome = run_report(
        day,
        settings.timezone.key,
        fetch=fetch_through_extractor(settings, deadline),
        publish=publish_to_topic(settings, deadline),
        delivery=delivery_log(settings, deadline, owner=context.aws_request_id),
        resend=resend,
    )
    return outcome.summary()
