"""Validation of the extractor's invocation event into a typed request."""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import EventError

DEFAULT_PORT = 3306
DEFAULT_TIMEZONE = "UTC"
_HOST_PORT = re.compile(r"^([^:/\s]+):(\d{1,5})$")


# A named tuple, not a dataclass: `dataclasses` (and the `inspect` it imports) was the largest
# import the extractor added to PyMySQL's on a cold start; typing.NamedTuple would import typing
# (bench/RESULTS.md).
_Fields = namedtuple(
    "_Fields", ["host", "port", "database", "user", "password", "report_date", "timezone"]
)


class ExtractRequest(_Fields):
    """Where the database is, who logs in, and which café day to extract (immutable).

    host: str, port: int, database: str, user: str, password: str, report_date: date,
    timezone: ZoneInfo. The password is never in its repr, a log line or an error message.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields if k != "password")
        return f"ExtractRequest({shown})"


def parse_event(event: object, *, now: datetime | None = None) -> ExtractRequest:
    """Validate the event; return the request or raise EventError naming the bad field.

    `reportDate` and `timezone` are optional for compatibility with the lab's reporter, which
    sent only the database settings: they default to today in UTC.
    """
    if not isinstance(event, dict):
        raise EventError("event", "must be a JSON object with dbUrl, dbName, dbUser, dbPassword")
    host, url_port = _host(event)
    port = _port(event, url_port)
    database = _text(event, "dbName")
    user = _text(event, "dbUser")
    password = event.get("dbPassword")
    if not isinstance(password, str):
        # Say only that it is missing or of the wrong type: never what it contains.
        raise EventError("dbPassword", "is required and must be a string")
    tz = _timezone(event)
    return ExtractRequest(
        host=host,
        port=port,
        database=database,
        user=user,
        password=password,
        report_date=_report_date(event, tz, now),
        timezone=tz,
    )


def _text(event: dict, key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EventError(key, "is required and must be a non-empty string")
    return value.strip()


def _host(event: dict) -> tuple[str, int | None]:
    url = _text(event, "dbUrl")
    if "://" in url or "/" in url:
        raise EventError(
            "dbUrl",
            "must be the database host name (e.g. the RDS endpoint "
            "mydb.abc123.us-east-1.rds.amazonaws.com), without a scheme or path",
        )
    match = _HOST_PORT.match(url)
    if match:  # "host:port", as some consoles show the endpoint
        return match.group(1), int(match.group(2))
    return url, None


def _port(event: dict, url_port: int | None) -> int:
    raw = event.get("dbPort")
    if raw is None:
        return url_port or DEFAULT_PORT
    port = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str) and raw.strip().isdigit():
        port = int(raw.strip())
    if port is None or not 1 <= port <= 65535:
        raise EventError("dbPort", f"must be a port number from 1 to 65535, got {_show(raw)}")
    return port


def _timezone(event: dict) -> ZoneInfo:
    name = event.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(name, str) or not name:
        raise EventError("timezone", f"must be an IANA time zone name, got {_show(name)}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise EventError(
            "timezone", f"is not a known IANA time zone: {_show(name)} (e.g. Europe/Paris)"
        ) from exc


def _report_date(event: dict, tz: ZoneInfo, now: datetime | None) -> date:
    raw = event.get("reportDate")
    if raw is None:
        return (now or datetime.now(tz)).astimezone(tz).date()
    if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise EventError("reportDate", f"must be a date as YYYY-MM-DD, got {_show(raw)}")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise EventError("reportDate", f"is not a real calendar date: {_show(raw)}") from exc


def _show(value: object) -> str:
    # Non-secret fields only; cut so a huge value cannot flood the error message.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
