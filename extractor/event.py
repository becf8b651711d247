"""Validation of the extractor's invocation event into a typed request."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from . import fields
from .errors import EventError

DEFAULT_PORT = 3306
T = TypeVar("T")


# A named tuple, not a dataclass: `dataclasses` (and the `inspect` it imports) was the largest
# import the extractor added to PyMySQL's on a cold start; typing.NamedTuple would import typing
# (bench/RESULTS.md).
_Fields = namedtuple(
    "_Fields",
    [
        "host",
        "port",
        "database",
        "user",
        "password",
        "report_date",
        "timezone",
        "ssl_mode",
        "ssl_ca",
    ],
    defaults=[None, None],
)


class ExtractRequest(_Fields):
    """Where the database is, who logs in, and which café day to extract (immutable).

    host: str, port: int, database: str, user: str, password: str, report_date: date,
    timezone: ZoneInfo, ssl_mode: str | None (one of fields.SSL_MODES; None: db.py's default),
    ssl_ca: str | None (a CA bundle's path; None: the image's RDS bundle). The password is never
    in its repr, a log line or an error message.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields if k != "password")
        return f"ExtractRequest({shown})"


def parse_event(event: object, *, now: datetime | None = None) -> ExtractRequest:
    """Validate the event; return the request or raise EventError naming the bad field.

    `reportDate` and `timezone` are optional for compatibility with the lab's reporter, which
    sent only the database settings: they default to today in UTC. Every format is strict
    (extractor/fields.py), so nothing malformed reaches PyMySQL or the café-day window.
    """
    if not isinstance(event, dict):
        raise EventError("event", "must be a JSON object with dbUrl, dbName, dbUser, dbPassword")
    host, url_port = _field(event, "dbUrl", fields.host)
    port = url_port or DEFAULT_PORT
    if event.get("dbPort") is not None:
        port = _field(event, "dbPort", fields.port)
    database = _field(event, "dbName", fields.database_name)
    user = _field(event, "dbUser", fields.user_name)
    password = _field(event, "dbPassword", fields.password)
    tz = _field(event, "timezone", fields.zone) if "timezone" in event else ZoneInfo("UTC")
    if event.get("reportDate") is None:
        report_date = (now or datetime.now(tz)).astimezone(tz).date()
    else:
        report_date = _field(event, "reportDate", fields.day)
    ssl_mode = (
        _field(event, "dbSslMode", fields.ssl_mode) if event.get("dbSslMode") is not None else None
    )
    ssl_ca = _field(event, "dbSslCa", fields.ca_path) if event.get("dbSslCa") is not None else None
    return ExtractRequest(
        host=host,
        port=port,
        database=database,
        user=user,
        password=password,
        report_date=report_date,
        timezone=tz,
        ssl_mode=ssl_mode,
        ssl_ca=ssl_ca,
    )


def _field(event: dict, key: str, parse: Callable[[object], T]) -> T:
    try:
        return parse(event.get(key))
    except fields.Malformed as exc:
        raise EventError(key, str(exc)) from exc
