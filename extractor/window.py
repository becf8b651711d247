"""The café day as a half-open interval of UTC instants, which is how MySQL stores TIMESTAMPs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_bounds_utc(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return naive UTC datetimes [start, end) covering local midnight to midnight of `day`.

    The day is 23, 24 or 25 hours long around DST changes. Where local midnight does not exist
    (a DST gap at 00:00), fold=0 resolves it to the instant the clocks jumped, which is the day's
    first real instant, so consecutive days still tile the timeline with no gap or overlap.
    """
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return _naive_utc(start), _naive_utc(end)


def _naive_utc(moment: datetime) -> datetime:
    # PyMySQL renders naive datetimes as literals; the session time zone is UTC to match.
    return moment.astimezone(UTC).replace(tzinfo=None)
