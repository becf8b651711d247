"""One report run: fetch the day's rows, build the message, publish it (or only show it).

With a delivery record (delivery.py) a day is published at most once: a day already sent is
answered from the record, and the claim is taken just before the publish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import aws
from .deadline import Deadline
from .delivery import CALL_CAP_S, Claim, DeliveryLog, Sent
from .errors import DependencyTimeoutError, ExtractorFailedError, PublishError, ReporterError
from .logs import step
from .message import SnsMessage, build_message
from .report import FULL, Report, build_report
from .settings import Settings

log = logging.getLogger(__name__)

Fetch = Callable[[date, str], Sequence[Mapping[str, Any]]]  # (day, time zone) -> rows
Publish = Callable[[SnsMessage], str]  # message -> SNS message id

SENT, ALREADY_SENT = "sent", "already-sent"

# The reporter's time budget, in seconds (deadline.py). The extractor's invocation may take
# everything that is left but what comes after it: the claim, the publish and the record.
# With their caps below, that is 2 + 6 + 2 = 10 s; a healthy run needs well under 1 s of it.
SSM_CAP_S = 5.0
PUBLISH_CAP_S = 6.0
AFTER_EXTRACT_S = CALL_CAP_S + PUBLISH_CAP_S + CALL_CAP_S


@dataclass(frozen=True)
class Outcome:
    """What a run did: the report and message it built (None when the day was sent already),
    the SNS message id, and `delivery` (sent, already-sent; None for a dry run)."""

    day: date
    report: Report | None
    message: SnsMessage | None
    message_id: str | None
    delivery: str | None = SENT
    previous: Sent | None = None

    def summary(self) -> dict[str, Any]:
        """The handler's return value: what was sent, in numbers (never the report itself)."""
        if self.report is None or self.message is None:
            assert self.previous is not None
            return {
                "statusCode": 200,
                "reportDate": self.day.isoformat(),
                "delivery": ALREADY_SENT,
                "messageId": self.previous.message_id,
                "sentAt": self.previous.sent_at,
                "sends": self.previous.sends,
            }
        return {
            "statusCode": 200,
            "reportDate": self.report.day.isoformat(),
            "delivery": self.delivery,
            "messageId": self.message_id,
            "groups": len(self.report.groups),
            "products": self.report.products,
            "quantity": self.report.quantity,
            "revenue": f"{self.report.revenue:.2f}",
            "detail": self.message.detail,
            "itemsShown": self.message.items_shown,
            "bytes": self.message.size,
        }


def run_report(
    day: date,
    timezone: str,
    fetch: Fetch,
    publish: Publish | None,
    *,
    delivery: DeliveryLog | None = None,
    resend: bool = False,
) -> Outcome:
    """Fetch, format and (if `publish` is given) publish one day's report.

    Nothing is published unless the whole message was built: any error raises before it. With
    `delivery`, a day already sent is not sent again unless `resend`. Errors raised name the day.
    """
    try:
        return _run(day, timezone, fetch, publish, delivery, resend)
    except ReporterError as exc:
        exc.day = day
        raise


def _run(
    day: date,
    timezone: str,
    fetch: Fetch,
    publish: Publish | None,
    delivery: DeliveryLog | None,
    resend: bool,
) -> Outcome:
    if publish is not None and delivery is not None and not resend:
        with step("check") as fields:
            previous = delivery.sent(day)
            fields["sent"] = previous is not None
        if previous is not None:
            return _already_sent(day, previous)
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
    if publish is None:
        return Outcome(day, report, message, None, delivery=None)
    claim = None
    if delivery is not None:
        with step("claim") as fields:
            claimed = delivery.claim(day, resend=resend, hold=PUBLISH_CAP_S + CALL_CAP_S)
            fields["won"] = isinstance(claimed, Claim)
        if isinstance(claimed, Sent):
            return _already_sent(day, claimed)
        claim = claimed
    with step("publish") as fields:
        message_id = _publish(publish, message, delivery, claim)
        fields["messageId"] = message_id
    if delivery is not None and claim is not None:
        with step("record"):
            delivery.record_sent(claim, message_id)
    return Outcome(day, report, message, message_id)


def _publish(
    publish: Publish, message: SnsMessage, delivery: DeliveryLog | None, claim: Claim | None
) -> str:
    """Publish; on a failure that surely did not reach SNS, give the claim back at once."""
    try:
        return publish(message)
    except PublishError as exc:
        if delivery is not None and claim is not None and not exc.uncertain:
            delivery.release(claim)
        raise


def _already_sent(day: date, previous: Sent) -> Outcome:
    log.info(
        "the report for %s was sent already as %s at %s: not sending it again",
        day.isoformat(),
        previous.message_id,
        previous.sent_at,
        extra={"delivery": ALREADY_SENT, "messageId": previous.message_id},
    )
    return Outcome(day, None, None, previous.message_id, ALREADY_SENT, previous)


def fetch_through_extractor(settings: Settings, deadline: Deadline) -> Fetch:
    """Rows the Lambda way: database settings from SSM, then the extractor function."""

    def fetch(day: date, timezone: str) -> Sequence[Mapping[str, Any]]:
        prefix = settings.ssm_prefix
        with (
            step("ssm"),
            deadline.call(f"SSM Parameter Store (GetParameters {prefix}/*)", SSM_CAP_S),
        ):
            db = aws.read_db_settings(aws.client("ssm"), prefix)
        name = settings.extractor_function
        with (
            step("invoke") as fields,
            deadline.call(f"the extractor function {name!r}", 900.0, keep=AFTER_EXTRACT_S),
        ):
            result = aws.invoke_extractor(aws.client("lambda"), name, db.event(day, timezone))
            fields["rows"] = len(result["body"])
        if result.get("reportDate", day.isoformat()) != day.isoformat():
            raise ExtractorFailedError(
                f"the extractor reported {result['reportDate']!r} when asked for {day}"
            )
        return result["body"]

    return fetch


def publish_to_topic(settings: Settings, deadline: Deadline) -> Publish:
    """Publishing to the configured topic, through a client in the topic's own region."""
    if settings.topic_arn is None:
        raise ValueError("publishing needs settings.topic_arn")  # from_env(need_topic=True)
    topic_arn = settings.topic_arn

    def publish(message: SnsMessage) -> str:
        sns = aws.client("sns", settings.topic_region)
        try:
            with deadline.call(f"SNS (publish to {topic_arn})", PUBLISH_CAP_S, keep=CALL_CAP_S):
                return aws.publish(sns, topic_arn, message)
        except DependencyTimeoutError as exc:
            raise PublishError(
                f"SNS did not answer the publish to {topic_arn} within {exc.seconds:.1f} s: "
                "SNS may have delivered the report; a retry will publish it again (see README, "
                "Troubleshooting: possible second copy)",
                uncertain=exc.started,
            ) from exc

    return publish


def delivery_log(settings: Settings, deadline: Deadline, owner: str) -> DeliveryLog | None:
    """The delivery record for the configured topic, or None when DELIVERY_TABLE is unset."""
    if settings.delivery_table is None or settings.topic_arn is None:
        return None
    return DeliveryLog(
        aws.client("dynamodb"), settings.delivery_table, settings.topic_arn, owner, deadline
    )
