"""Which café day an invocation reports on."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from . import fields
from .errors import EventError

# RFC 3339, as EventBridge Scheduler fills in <aws.scheduler.scheduled-time>
# (2026-11-27T19:00:00Z): ASCII digits, a zone always.
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def requested_date(event: object, tz: ZoneInfo, *, now: datetime | None = None) -> date:
    """Return the day to report: `reportDate`, else the day of `scheduledTime`, else today.

    Any other event (a scheduler's, the console's hello-world test) means today in `tz`.
    `scheduledTime` lets a schedule retried after midnight still report the day it was due.
    Both are checked when both are given, though `reportDate` decides.
    Raises EventError for a malformed or future date.
    """
    today = (now or datetime.now(tz)).astimezone(tz).date()
    if not isinstance(event, dict):
        return today
    scheduled = None
    if "scheduledTime" in event:
        scheduled = _past_or_today(
            _scheduled_day(event["scheduledTime"], tz), today, "scheduledTime"
        )
    if "reportDate" in event:
        try:
            day = fields.day(event["reportDate"])
        except fields.Malformed as exc:
            raise EventError("reportDate", str(exc)) from exc
        return _past_or_today(day, today, "reportDate")
    return today if scheduled is None else scheduled


def _scheduled_day(raw: object, tz: ZoneInfo) -> date:
    if not isinstance(raw, str) or not _INSTANT.fullmatch(raw):
        raise EventError(
            "scheduledTime",
            "must be an ISO 8601 time with a zone (e.g. 2026-11-27T19:00:00Z), "
            f"got {fields.show(raw)}",
        )
    try:
        day = datetime.fromisoformat(raw).astimezone(tz).date()
    except (ValueError, OverflowError) as exc:  # no such time, or beyond the calendar in tz
        raise EventError(
            "scheduledTime", f"is not a real time in {tz.key}'s calendar: {fields.show(raw)}"
        ) from exc
    if not fields.FIRST_DAY <= day <= fields.LAST_DAY:
        raise EventError(
            "scheduledTime",
            f"must fall on a day from {fields.FIRST_DAY} to {fields.LAST_DAY}, "
            f"got {fields.show(raw)}",
        )
    return day


def _past_or_today(day: date, today: date, field: str) -> date:
    if day > today:
        raise EventError(field, f"{day.isoformat()} is in the future (today is {today})")
    return day


def requested_resend(event: object) -> bool:
    """Whether the event asks to send the day again on purpose (`"resend": true`)."""
    if not isinstance(event, dict) or "resend" not in event:
        return False
    resend = event["resend"]
    if not isinstance(resend, bool):
        raise EventError("resend", f"must be true or false, got {fields.show(resend)}")
    return resend
