"""The delivery record: at most one report per (topic, café day), kept in DynamoDB.

Scheduler and Lambda's async queue deliver an event at least once, and Lambda retries a failed
run, so one café day can be run several times, even at once. Each run asks the table
(DELIVERY_TABLE: partition key `id`, TTL attribute `expiration`) before it publishes:

1. `sent(day)`: a consistent read; a day already sent is answered without touching the database.
2. `claim(day)`: a conditional write that only one run can win, taken just before the
   publish. It lasts as long as the publish and its record may take (pipeline.py's caps),
   so the claim of a run that crashed has expired when Lambda retries it, and the retry takes
   over. A run that finds a live claim waits for its outcome.
3. `record_sent(claim, message_id)` after the publish, or `release(claim)` when the publish
   surely did not reach SNS.

The one gap: when SNS accepts a message but its answer is lost (a timeout after sending), the
run cannot know the report went out. It keeps its claim; the retry takes the expired claim over
and publishes again, logging `possible second copy`. That is the rare case of a second email.

Only GetItem and UpdateItem are used (claims are conditional updates, so a re-send keeps the
day's history), on this one table.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .deadline import Deadline
from .errors import DeliveryBusyError, DeliveryError, DependencyTimeoutError

log = logging.getLogger(__name__)

SENT, CLAIMED, RELEASED = "sent", "claimed", "released"
RETENTION_DAYS = 90  # records (when each day was sent, as which message) are kept this long
CALL_CAP_S = 2.0  # one DynamoDB call: single-digit milliseconds when healthy
POLL_S = 0.5  # how often a run waiting on another run's claim looks again

_STATUS = {"#status": "status", "#owner": "owner"}


@dataclass(frozen=True)
class Sent:
    """A day that was delivered already."""

    message_id: str  # the first delivery's SNS message id
    last_message_id: str
    sent_at: str
    sends: int


@dataclass(frozen=True)
class Claim:
    """This run's exclusive right to publish one day, until `until_ms` (epoch milliseconds)."""

    key: str
    owner: str
    until_ms: int
    prior: str | None  # the day's status before this claim: restored by release()
    took_over: str | None  # the owner of an expired claim this one replaced, if any


class DeliveryLog:
    """The delivery records of one topic, in one table, for one run (owner) and its deadline."""

    def __init__(
        self, client: Any, table: str, topic_arn: str, owner: str, deadline: Deadline
    ) -> None:
        self.client = client
        self.table = table
        self.topic_arn = topic_arn
        self.owner = owner
        self.deadline = deadline

    def key(self, day: date) -> str:
        return f"{self.topic_arn}#{day.isoformat()}"

    def sent(self, day: date) -> Sent | None:
        """The day's delivery if it was sent already (consistent read), else None."""
        return _as_sent(self._get(self.key(day)))

    def claim(self, day: date, *, resend: bool, hold: float) -> Claim | Sent:
        """Claim the day for the next `hold` seconds (the publish and its record); or return
        the day's delivery if another run sent it.

        A live claim of another run is waited on, as long as `hold` seconds remain after;
        raises DeliveryBusyError if it is still held then, DeliveryError if the table fails.
        """
        key = self.key(day)
        while True:
            # Past the hold (and a second's slack) this run has finished or been stopped by
            # its deadline: a later run may take the claim over.
            lasts = min(hold + 1.0, self.deadline.remaining())
            until_ms = _now_ms() + int(lasts * 1000)
            old, won = self._try_claim(key, day, until_ms, resend=resend)
            if won:
                took_over = None
                if old is not None and _text(old, "status") == CLAIMED:
                    took_over = _text(old, "owner") or "an unknown run"
                    log.warning(
                        "taking over the expired claim of %s on %s: it did not record whether "
                        "it published, so this may be a possible second copy",
                        took_over,
                        day.isoformat(),
                        extra={"step": "claim", "tookOver": took_over},
                    )
                prior = _text(old, "status") if old is not None else None
                return Claim(key, self.owner, until_ms, prior, took_over)
            if not resend and (sent := _as_sent(old)) is not None:
                return sent
            # Another run holds a live claim: it is publishing now. Wait for its outcome.
            until = int(_number(old, "claimExpires") or 0)
            if self.deadline.remaining() - hold < POLL_S + CALL_CAP_S:
                raise DeliveryBusyError(
                    f"another run ({_text(old, 'owner')}) is delivering the report for "
                    f"{day.isoformat()} (its claim lasts until {_iso(until)}) and had not "
                    "finished in time: nothing was published by this run; a retry will find "
                    "the day sent, or take over the claim once it expires"
                )
            time.sleep(POLL_S)
            old = self._get(key)
            if not resend and (sent := _as_sent(old)) is not None:
                return sent

    def record_sent(self, claim: Claim, message_id: str) -> None:
        """Mark the day sent as `message_id`. Never raises: the report is out already, and
        failing now would only make Lambda retry, that is, send it again."""
        try:
            self._update(
                claim.key,
                "SET #status = :sent, lastMessageId = :id, sentAt = :at,"
                " firstMessageId = if_not_exists(firstMessageId, :id),"
                " firstSentAt = if_not_exists(firstSentAt, :at),"
                " sends = if_not_exists(sends, :zero) + :one"
                " REMOVE #owner, claimExpires",
                "#owner = :me",
                {
                    ":sent": {"S": SENT},
                    ":id": {"S": message_id},
                    ":at": {"S": _iso(_now_ms())},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":me": {"S": claim.owner},
                },
            )
        except _ConditionFailed as failed:
            if _text(failed.item, "lastMessageId") != message_id:  # not our own retried write
                log.warning(
                    "published as %s, but another run had taken over the claim meanwhile",
                    message_id,
                    extra={"step": "record"},
                )
        except (DeliveryError, DependencyTimeoutError) as exc:
            log.error(
                "published as %s but could not record it (%s): a later run for this day would "
                "send it again",
                message_id,
                exc,
                extra={"step": "record"},
            )

    def release(self, claim: Claim) -> None:
        """Give the claim back after a publish that surely did not reach SNS (best effort:
        unreleased, the claim expires at its deadline anyway)."""
        status = SENT if claim.prior == SENT else RELEASED
        try:
            self._update(
                claim.key,
                "SET #status = :status REMOVE #owner, claimExpires",
                "#owner = :me",
                {":status": {"S": status}, ":me": {"S": claim.owner}},
            )
        except (_ConditionFailed, DeliveryError, DependencyTimeoutError) as exc:
            log.warning("could not release the claim on %s: %s", claim.key, exc)

    # --- DynamoDB calls -----------------------------------------------------------------------

    def _try_claim(
        self, key: str, day: date, until_ms: int, *, resend: bool
    ) -> tuple[dict[str, Any] | None, bool]:
        """One conditional claim; (the record before it, whether this run won it)."""
        if resend:  # anything but a live claim of another run
            condition = "attribute_not_exists(id) OR #status <> :claimed OR claimExpires < :now"
        else:  # never sent, released, or claimed by a run that has died
            condition = (
                "attribute_not_exists(id) OR #status = :released"
                " OR (#status = :claimed AND claimExpires < :now)"
            )
        now_ms = _now_ms()
        try:
            old = self._update(
                key,
                "SET #status = :claimed, #owner = :me, claimExpires = :until, claimedAt = :at,"
                " reportDate = :day, topicArn = :topic, expiration = :ttl",
                condition,
                {
                    ":claimed": {"S": CLAIMED},
                    ":released": {"S": RELEASED},
                    ":me": {"S": self.owner},
                    ":until": {"N": str(until_ms)},
                    ":now": {"N": str(now_ms)},
                    ":at": {"S": _iso(now_ms)},
                    ":day": {"S": day.isoformat()},
                    ":topic": {"S": self.topic_arn},
                    ":ttl": {"N": str(now_ms // 1000 + RETENTION_DAYS * 86400)},
                },
            )
        except _ConditionFailed as failed:
            item = failed.item
            if _text(item, "status") == CLAIMED and _text(item, "owner") == self.owner:
                return None, True  # our own claim, written by an earlier attempt of this call
            return item, False
        return old or None, True

    def _get(self, key: str) -> dict[str, Any] | None:
        with self.deadline.call(self._name, CALL_CAP_S), _table_errors(self.table, "read"):
            response = self.client.get_item(
                TableName=self.table, Key={"id": {"S": key}}, ConsistentRead=True
            )
        return response.get("Item")

    def _update(
        self,
        key: str,
        update: str,
        condition: str,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        """One conditional UpdateItem; returns the item as it was before."""
        # Only the placeholders an expression uses may be sent.
        text = update + condition
        values = {name: value for name, value in values.items() if name in text}
        names = {name: value for name, value in _STATUS.items() if name in text}
        with self.deadline.call(self._name, CALL_CAP_S), _table_errors(self.table, "write"):
            try:
                response = self.client.update_item(
                    TableName=self.table,
                    Key={"id": {"S": key}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                raise _ConditionFailed(exc.response.get("Item") or {}) from None
        return response.get("Attributes") or {}

    @property
    def _name(self) -> str:
        return f"DynamoDB (delivery table {self.table!r})"


class _ConditionFailed(Exception):
    """A conditional write lost; `item` is the record as it was."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__("the condition did not hold")
        self.item = item


@contextlib.contextmanager
def _table_errors(table: str, action: str) -> Iterator[None]:
    """Turn botocore's failures into DeliveryError, naming the table and what to check."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise DeliveryError(
            f"cannot {action} the delivery record in DynamoDB table {table!r}: "
            f"{_describe(exc)}: check DELIVERY_TABLE and that the reporter role may "
            "dynamodb:GetItem and dynamodb:UpdateItem on it"
        ) from exc


def _describe(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _as_sent(item: dict[str, Any] | None) -> Sent | None:
    if _text(item, "status") != SENT:
        return None
    first = _text(item, "firstMessageId") or _text(item, "lastMessageId") or ""
    return Sent(
        message_id=first,
        last_message_id=_text(item, "lastMessageId") or first,
        sent_at=_text(item, "firstSentAt") or _text(item, "sentAt") or "",
        sends=int(_number(item, "sends") or 1),
    )


def _text(item: dict[str, Any] | None, name: str) -> str | None:
    value = (item or {}).get(name, {})
    return value.get("S") if isinstance(value, dict) else None


def _number(item: dict[str, Any] | None, name: str) -> float | None:
    value = (item or {}).get(name, {})
    raw = value.get("N") if isinstance(value, dict) else None
    return float(raw) if raw is not None else None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")
