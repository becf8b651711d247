"""One report run: fetch the day's rows, build the message, publish it (or only show it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import aws
from .errors import ExtractorFailedError
from .logs import step
from .message import SnsMessage, build_message
from .report import FULL, Report, build_report
from .settings import Settings

log = logging.getLogger(__name__)

Fetch = Callable[[date, str], Sequence[Mapping[str, Any]]]  # (day, time zone) -> rows
Publish = Callable[[SnsMessage], str]  # message -> SNS message id


@dataclass(frozen=True)
class Outcome:
    """What a run produced: the report, the message, and the message id if it was published."""

    report: Report
    message: SnsMessage
    message_id: str | None

    def summary(self) -> dict[str, Any]:
        """The handler's return value: what was sent, in numbers (never the report itself)."""
        return {
            "statusCode": 200,
            "reportDate": self.report.day.isoformat(),
            "messageId": self.message_id,
            "groups": len(self.report.groups),
            "products": self.report.products,
            "quantity": self.report.quantity,
            "revenue": f"{self.report.revenue:.2f}",
            "detail": self.message.detail,
            "itemsShown": self.message.items_shown,
            "bytes": self.message.size,
        }


def run_report(day: date, timezone: str, fetch: Fetch, publish: Publish | None) -> Outcome:
    """Fetch, format and (if `publish` is given) publish one day's report.

    Nothing is published unless the whole message was built: any error raises before it.
    """
    with step("extract") as fields:
        rows = fetch(day, timezone)
        fields["rows"] = len(rows)
    with step("format") as fields:
        report = build_report(day, timezone, rows)
        # The rows are in the report now. Dropped, their memory (~5 MB at 10^4 products) is
        # reused by the message and the publish call: the function's peak stays under 64 MB.
        del rows
        message = build_message(report)
        fields.update(bytes=message.size, detail=message.detail)
    if message.detail != FULL:
        log.warning(
            "report over the SNS size limit: JSON cut to %s, %d of %d items in the text",
            message.detail,
            message.items_shown,
            message.items_total,
            extra={"detail": message.detail, "itemsShown": message.items_shown},
        )
    message_id = None
    if publish is not None:
        with step("publish") as fields:
            message_id = publish(message)
            fields["messageId"] = message_id
    return Outcome(report, message, message_id)


def fetch_through_extractor(settings: Settings) -> Fetch:
    """Rows the Lambda way: database settings from SSM, then the extractor function."""

    def fetch(day: date, timezone: str) -> Sequence[Mapping[str, Any]]:
        with step("ssm"):
            db = aws.read_db_settings(aws.client("ssm"), settings.ssm_prefix)
        with step("invoke") as fields:
            result = aws.invoke_extractor(
                aws.client("lambda"), settings.extractor_function, db.event(day, timezone)
            )
            fields["rows"] = len(result["body"])
        if result.get("reportDate", day.isoformat()) != day.isoformat():
            raise ExtractorFailedError(
                f"the extractor reported {result['reportDate']!r} when asked for {day}"
            )
        return result["body"]

    return fetch


def publish_to_topic(settings: Settings) -> Publish:
    """Publishing to the configured topic, through a client in the topic's own region."""
    if settings.topic_arn is None:
        raise ValueError("publishing needs settings.topic_arn")  # from_env(need_topic=True)
    topic_arn = settings.topic_arn

    def publish(message: SnsMessage) -> str:
        return aws.publish(aws.client("sns", settings.topic_region), topic_arn, message)

    return publish
