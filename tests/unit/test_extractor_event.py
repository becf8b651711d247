"""Validation of the extractor's event: one clear error per bad field, never the password."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from extractor.errors import EventError
from extractor.event import parse_event
from extractor.window import day_bounds_utc
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
        ({"timezone": "../../etc/passwd"}, "timezone", "IANA time zone name"),
        ({"timezone": ""}, "timezone", "IANA time zone name"),
        # Strict formats (issue 10): each of these once escaped as a foreign exception or was
        # accepted though malformed.
        ({"dbPort": "\u0663\u0663\u0660\u0666"}, "dbPort", "ASCII digits"),  # isdigit(), not int()
        ({"dbPort": "\u00b3"}, "dbPort", "ASCII digits"),
        ({"dbPort": 70000}, "dbPort", "1 to 65535"),
        ({"dbPort": 3306.0}, "dbPort", "1 to 65535"),
        ({"dbUrl": "db.internal:0"}, "dbUrl", "port after ':'"),
        ({"dbUrl": "db.internal:\u0663\u0663"}, "dbUrl", "port after ':'"),
        ({"dbUrl": "a" * 64 + ".example.com"}, "dbUrl", "labels of 1 to 63"),  # IDNA's error
        ({"dbUrl": "a." * 127 + "com"}, "dbUrl", "at most 253"),
        ({"dbUrl": "db..internal"}, "dbUrl", "labels of 1 to 63"),
        ({"dbUrl": "caf\u00e9.example.com"}, "dbUrl", "xn-- form"),
        ({"dbUrl": "db internal"}, "dbUrl", "host name"),
        ({"dbUrl": "[nope]:3306"}, "dbUrl", "not a valid IPv6 address"),
        ({"dbName": "d" * 65}, "dbName", "at most 64 characters (MySQL's limit"),
        ({"dbName": "ca\0fe"}, "dbName", "may not hold NUL"),
        ({"dbName": "caf\U0001f600"}, "dbName", "beyond U+FFFF"),
        ({"dbName": "caf\ud800"}, "dbName", "lone surrogates"),
        ({"dbUser": "u" * 33}, "dbUser", "at most 32 characters (MySQL's limit"),
        ({"reportDate": "20261127"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": "\uff12\uff10\uff12\uff16-11-27"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": "9999-12-31"}, "reportDate", "from 0001-01-02 to 9999-12-30"),
        ({"reportDate": "0001-01-01"}, "reportDate", "from 0001-01-02 to 9999-12-30"),
        ({"timezone": "Europe/Paris\n"}, "timezone", "IANA time zone name"),
        ({"timezone": "Europe"}, "timezone", "not a known IANA time zone"),
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


@pytest.mark.parametrize(
    ("changes", "host", "port"),
    [
        ({"dbUrl": "[::1]:3307"}, "::1", 3307),
        ({"dbUrl": "::1"}, "::1", 3306),
        ({"dbUrl": "db.internal."}, "db.internal.", 3306),
        ({"dbUrl": "cafe_db"}, "cafe_db", 3306),  # a compose service name
        ({"dbUrl": "a" * 63 + ".example.com"}, "a" * 63 + ".example.com", 3306),
        ({"dbUrl": "db.internal:3310", "dbPort": " 3311 "}, "db.internal", 3311),
    ],
)
def test_parse_event_host_forms(changes: dict[str, Any], host: str, port: int) -> None:
    request = parse_event({**load_event("extractor_valid"), **changes})
    assert (request.host, request.port) == (host, port)


def test_parse_event_accepts_mysql_limits_exactly() -> None:
    request = parse_event({**load_event("extractor_valid"), "dbName": "d" * 64, "dbUser": "u" * 32})
    assert (len(request.database), len(request.user)) == (64, 32)


@pytest.mark.parametrize("day", ["0001-01-02", "9999-12-30"])
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Manila", "UTC"])
def test_parse_event_edge_days_have_a_window_in_any_zone(day: str, zone: str) -> None:
    # The OverflowError from the café-day window at the calendar's edges (issue 10).
    request = parse_event({**load_event("extractor_valid"), "reportDate": day, "timezone": zone})
    start, end = day_bounds_utc(request.report_date, request.timezone)
    assert start < end


def test_parse_event_a_huge_value_gives_a_short_message_with_its_length() -> None:
    with pytest.raises(EventError) as caught:
        parse_event({**load_event("extractor_valid"), "dbUser": "u" * 1_000_000})
    message = str(caught.value)
    assert len(message) < 300
    assert "(1000000 characters)" in message


def test_parse_event_password_outside_latin1_is_refused_without_showing_it() -> None:
    # PyMySQL's UnicodeEncodeError named the character and its position in the password.
    password = "s3cret-\u20ac-pw"
    with pytest.raises(EventError) as caught:
        parse_event({**load_event("extractor_valid"), "dbPassword": password})
    message = str(caught.value)
    assert caught.value.field == "dbPassword"
    assert "cannot send" in message
    assert "Latin-1" in message
    for leak in ("\u20ac", "20ac", "position", "7", "s3c", "-pw", str(len(password))):
        assert leak not in message
    # Nor does any exception chained to it (a traceback would print them).
    chained: BaseException | None = caught.value
    while chained is not None:
        assert "\u20ac" not in str(chained)
        assert not isinstance(chained, UnicodeError)
        chained = chained.__cause__ or (
            None if chained.__suppress_context__ else chained.__context__
        )


@pytest.mark.parametrize("event", [None, [], "dbUrl=x", 42])
def test_parse_event_rejects_a_non_object(event: object) -> None:
    with pytest.raises(EventError, match="must be a JSON object"):
        parse_event(event)


def test_parse_event_never_shows_the_password() -> None:
    request = parse_event(load_event("extractor_valid"))
    assert SECRET not in repr(request)
    assert SECRET not in str(request)


def test_parse_event_tls_settings_default_to_the_extractors_choice() -> None:
    request = parse_event(load_event("extractor_valid"))
    assert (request.ssl_mode, request.ssl_ca) == (None, None)


def test_parse_event_reads_mysqls_ssl_modes_in_any_case() -> None:
    event = {**load_event("extractor_valid"), "dbSslMode": "verify-ca", "dbSslCa": "/opt/ca.pem"}
    request = parse_event(event)
    assert (request.ssl_mode, request.ssl_ca) == ("VERIFY_CA", "/opt/ca.pem")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dbSslMode": "on"}, "dbSslMode"),
        ({"dbSslMode": ""}, "dbSslMode"),
        ({"dbSslMode": True}, "dbSslMode"),
        ({"dbSslCa": "relative/ca.pem"}, "dbSslCa"),
        ({"dbSslCa": "/opt/\n.pem"}, "dbSslCa"),
    ],
)
def test_parse_event_rejects_bad_tls_settings_by_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(EventError, match=f"'{field}'"):
        parse_event({**load_event("extractor_valid"), **changes})
