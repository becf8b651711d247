"""The café day as UTC bounds, across DST changes and odd offsets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from extractor.window import day_bounds_utc

HOUR = timedelta(hours=1)


def test_day_bounds_utc_in_utc_is_midnight_to_midnight() -> None:
    assert day_bounds_utc(date(2026, 11, 27), ZoneInfo("UTC")) == (
        datetime(2026, 11, 27),
        datetime(2026, 11, 28),
    )


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        ("Europe/Paris", date(2026, 11, 27), datetime(2026, 11, 26, 23), 24),
        ("Europe/Paris", date(2026, 3, 29), datetime(2026, 3, 28, 23), 23),  # spring forward
        ("Europe/Paris", date(2026, 10, 25), datetime(2026, 10, 24, 22), 25),  # fall back
        ("America/New_York", date(2026, 3, 8), datetime(2026, 3, 8, 5), 23),
        ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 4), 25),
        ("Australia/Sydney", date(2026, 4, 5), datetime(2026, 4, 4, 13), 25),
        ("Asia/Kolkata", date(2026, 11, 27), datetime(2026, 11, 26, 18, 30), 24),
        # Local midnight does not exist: clocks jump from 00:00 to 01:00 (Chile, September).
        ("America/Santiago", date(2026, 9, 6), datetime(2026, 9, 6, 4), 23),
        # Samoa skipped 30 December 2011 altogether: that café day is empty.
        ("Pacific/Apia", date(2011, 12, 30), datetime(2011, 12, 30, 10), 0),
    ],
)
def test_day_bounds_utc_follows_the_local_day(
    zone: str, day: date, start: datetime, hours: int
) -> None:
    begin, end = day_bounds_utc(day, ZoneInfo(zone))
    assert begin == start
    assert end - begin == hours * HOUR


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Paris", "America/Santiago", "Australia/Lord_Howe", "Pacific/Chatham"]
)
def test_day_bounds_utc_days_tile_the_year_without_gap_or_overlap(zone: str) -> None:
    tz = ZoneInfo(zone)
    day = date(2026, 1, 1)
    previous_end = day_bounds_utc(day - timedelta(days=1), tz)[1]
    while day.year == 2026:
        begin, end = day_bounds_utc(day, tz)
        assert begin == previous_end, day
        assert timedelta(hours=22) < end - begin < timedelta(hours=26), day
        previous_end = end
        day += timedelta(days=1)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Tokyo"])
def test_day_bounds_utc_midnight_edges_fall_on_the_right_day(zone: str) -> None:
    tz = ZoneInfo(zone)
    begin, end = day_bounds_utc(date(2026, 11, 27), tz)
    first = datetime(2026, 11, 27, 0, 0, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    last = datetime(2026, 11, 27, 23, 59, 59, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    next_midnight = datetime(2026, 11, 28, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    assert begin <= first < end
    assert begin <= last < end
    assert not (begin <= next_midnight < end)  # half-open: the next midnight is tomorrow's


def test_day_bounds_utc_returns_naive_utc() -> None:
    begin, end = day_bounds_utc(date(2026, 6, 1), ZoneInfo("Europe/Paris"))
    assert begin.tzinfo is None
    assert end.tzinfo is None
