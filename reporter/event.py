"""Which café day an invocation reports on."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from .errors import EventError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def requested_date(event: object, tz: ZoneInfo, *, now: datetime | None = None) -> date:
    """Return the day to report: `reportDate`, else the day of `scheduledTime`, else today.

    Any other event (a scheduler's, the console's hello-world test) means today in `tz`.
    `scheduledTime` lets a schedule retried after midnight still report the day it was due.
    Raises EventError for a malformed or future date.
    """
    today = (now or datetime.now(tz)).astimezone(tz).date()
    if not isinstance(event, dict):
        return today
    if "reportDate" in event:
        return _past_or_today(_parse_date(event["reportDate"]), today, "reportDate")
    if "scheduledTime" in event:
        day = _parse_instant(event["scheduledTime"]).astimezone(tz).date()
        return _past_or_today(day, today, "scheduledTime")
    return today


def _parse_date(raw: object) -> date:
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise EventError("reportDate", f"must be a date as YYYY-MM-DD, got {_show(raw)}")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise EventError("reportDate", f"is not a real calendar date: {_show(raw)}") from exc


def _parse_instant(raw: object) -> datetime:
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise EventError(
            "scheduledTime",
            f"must be an ISO 8601 time with a zone (e.g. 2026-11-27T19:00:00Z), got {_show(raw)}",
        )
    return moment


def _past_or_today(day: date, today: date, field: str) -> date:
    if day > today:
        raise EventError(field, f"{day.isoformat()} is in the future (today is {today})")
    return day


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def requested_resend(event: object) -> bool:
    """Whether the event asks to send the day again on purpose (`"resend": true`)."""
    if not isinstance(event, dict) or "resend" not in event:
        return False
    resend = event["resend"]
    if not isinstance(resend, bool):
        raise EventError("resend", f"must be true or false, got {_show(resend)}")
    return resend
