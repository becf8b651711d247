"""Validation of the extractor's event: one clear error per bad field, never the password."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from extractor.errors import EventError
from extractor.event import parse_event
from support.events import load_event

SECRET = "not-a-real-password"
NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)


def test_parse_event_reads_every_field() -> None:
    request = parse_event(load_event("extractor_valid"))
    assert request.host == "cafe-db.abc123xyz.us-east-1.rds.amazonaws.com"
    assert request.port == 3306
    assert (request.database, request.user, request.password) == ("cafe_db", "admin", SECRET)
    assert request.report_date == date(2026, 11, 27)
    assert request.timezone.key == "Europe/Paris"


def test_parse_event_lab_event_defaults_to_today_in_utc() -> None:
    request = parse_event(load_event("extractor_lab"), now=NOW)
    assert request.report_date == date(2026, 11, 27)
    assert request.timezone.key == "UTC"


def test_parse_event_today_is_taken_in_the_cafe_time_zone() -> None:
    event = {**load_event("extractor_lab"), "timezone": "Europe/Paris"}
    assert parse_event(event, now=NOW).report_date == date(2026, 11, 28)


@pytest.mark.parametrize(
    ("changes", "port", "host"),
    [
        ({"dbPort": 3307}, 3307, "cafe-db.abc123xyz.us-east-1.rds.amazonaws.com"),
        ({"dbPort": "3308"}, 3308, "cafe-db.abc123xyz.us-east-1.rds.amazonaws.com"),
        ({"dbUrl": "db.internal:3310"}, 3310, "db.internal"),
        ({"dbUrl": " db.internal "}, 3306, "db.internal"),
    ],
)
def test_parse_event_port_from_dbport_or_url(changes: dict[str, Any], port: int, host: str) -> None:
    request = parse_event({**load_event("extractor_valid"), **changes})
    assert (request.host, request.port) == (host, port)


def test_parse_event_accepts_an_empty_password() -> None:
    assert parse_event({**load_event("extractor_valid"), "dbPassword": ""}).password == ""


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"dbUrl": None}, "dbUrl", "required"),
        ({"dbUrl": ""}, "dbUrl", "required"),
        ({"dbUrl": "mysql://db.internal/cafe"}, "dbUrl", "without a scheme"),
        ({"dbName": None}, "dbName", "required"),
        ({"dbUser": 42}, "dbUser", "non-empty string"),
        ({"dbPassword": None}, "dbPassword", "required"),
        ({"dbPassword": 1234}, "dbPassword", "must be a string"),
        ({"dbPort": 0}, "dbPort", "1 to 65535"),
        ({"dbPort": "http"}, "dbPort", "1 to 65535"),
        ({"dbPort": True}, "dbPort", "1 to 65535"),
        ({"reportDate": "2026-13-01"}, "reportDate", "not a real calendar date"),
        ({"reportDate": "2026-02-30"}, "reportDate", "not a real calendar date"),
        ({"reportDate": "27/11/2026"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": "2026-11-27T20:00"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": 20261127}, "reportDate", "YYYY-MM-DD"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "not a known IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "not a known IANA time zone"),
        ({"timezone": ""}, "timezone", "IANA time zone name"),
    ],
)
def test_parse_event_rejects_a_bad_field_by_name(
    changes: dict[str, Any], field: str, fragment: str
) -> None:
    event = {**load_event("extractor_valid"), **changes}
    event = {k: v for k, v in event.items() if v is not None}
    with pytest.raises(EventError) as caught:
        parse_event(event)
    assert caught.value.field == field
    assert f"'{field}'" in str(caught.value)
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("event", [None, [], "dbUrl=x", 42])
def test_parse_event_rejects_a_non_object(event: object) -> None:
    with pytest.raises(EventError, match="must be a JSON object"):
        parse_event(event)


def test_parse_event_never_shows_the_password() -> None:
    request = parse_event(load_event("extractor_valid"))
    assert SECRET not in repr(request)
    assert SECRET not in str(request)
