"""Which day a reporter invocation reports on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from reporter.errors import EventError
from reporter.event import requested_date
from support.events import load_event

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # already the 28th in Paris


@pytest.mark.parametrize(
    "event", [None, {}, [], "hello", load_event("reporter_hello_world"), {"source": "aws.events"}]
)
def test_requested_date_any_other_event_means_today_in_the_cafe_zone(event: object) -> None:
    assert requested_date(event, PARIS, now=NOW) == date(2026, 11, 28)
    assert requested_date(event, ZoneInfo("UTC"), now=NOW) == date(2026, 11, 27)


def test_requested_date_report_date_resends_a_past_day() -> None:
    assert requested_date(load_event("reporter_resend"), PARIS, now=NOW) == date(2026, 11, 26)


def test_requested_date_scheduled_time_is_read_in_the_cafe_zone() -> None:
    event = load_event("reporter_scheduler")  # 19:00Z is 20:00 in Paris, on the 27th
    later = datetime(2026, 11, 28, 0, 5, tzinfo=UTC)  # a retry after midnight
    assert requested_date(event, PARIS, now=later) == date(2026, 11, 27)


def test_requested_date_report_date_wins_over_scheduled_time() -> None:
    event = {"reportDate": "2026-11-01", "scheduledTime": "2026-11-27T19:00:00Z"}
    assert requested_date(event, PARIS, now=NOW) == date(2026, 11, 1)


@pytest.mark.parametrize(
    "raw", ["2026-11-27T20:00:00.123+01:00", "2026-11-27T19:00:00.5Z", "2026-11-28T04:00:00+09:00"]
)
def test_requested_date_scheduled_time_forms(raw: str) -> None:
    assert requested_date({"scheduledTime": raw}, PARIS, now=NOW) == date(2026, 11, 27)


@pytest.mark.parametrize(
    ("event", "field", "fragment"),
    [
        ({"reportDate": "2026-11-31"}, "reportDate", "not a real calendar date"),
        ({"reportDate": "yesterday"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": None}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": "2026-11-29"}, "reportDate", "is in the future (today is 2026-11-28)"),
        ({"scheduledTime": "2026-11-27T19:00:00"}, "scheduledTime", "with a zone"),
        ({"scheduledTime": "soon"}, "scheduledTime", "ISO 8601"),
        ({"scheduledTime": "2027-01-01T00:00:00Z"}, "scheduledTime", "in the future"),
        # Issue 10: each of these escaped as a foreign exception, or was accepted or ignored.
        ({"reportDate": "20261126"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": "\uff12\uff10\uff12\uff16-11-26"}, "reportDate", "YYYY-MM-DD"),
        ({"reportDate": "0001-01-01"}, "reportDate", "from 0001-01-02"),
        ({"reportDate": "x" * 100_000}, "reportDate", "(100000 characters)"),
        ({"scheduledTime": "0001-01-01T00:00:00+05:00"}, "scheduledTime", "calendar"),
        ({"scheduledTime": "0001-01-01T03:00:00Z"}, "scheduledTime", "from 0001-01-02"),
        ({"scheduledTime": "20261127T190000Z"}, "scheduledTime", "ISO 8601"),
        ({"scheduledTime": "2026-11-27T19:00:00+25:00"}, "scheduledTime", "calendar"),
        ({"scheduledTime": "2026-11-31T19:00:00Z"}, "scheduledTime", "calendar"),
        ({"scheduledTime": 1764270000}, "scheduledTime", "ISO 8601"),
        ({"reportDate": "2026-11-01", "scheduledTime": "soon"}, "scheduledTime", "ISO 8601"),
    ],
)
def test_requested_date_rejects_a_bad_date(event: dict, field: str, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        requested_date(event, PARIS, now=NOW)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 200
