"""Property: any event gives the extractor a valid request or one of our errors, never the
password. (Its examples are fixed: tests/support/properties.py.)"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from typing import Any

import hypothesis
from hypothesis import example, given
from hypothesis import strategies as st

from extractor.errors import EventError
from extractor.event import parse_event
from extractor.window import day_bounds_utc
from support.properties import (
    MESSAGE_LIMIT,
    assert_holds_no_part_of,
    json_values,
    shadow,
)

NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
ZONES = [
    "UTC",
    "Europe/Paris",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "Asia/Kolkata",
    "America/St_Johns",
]

bmp_text = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",), exclude_characters="\0")
label = st.from_regex(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?", fullmatch=True)
# Valid values, and for each field the malformed ones issue 10 found, and anything at all.
GOOD = {
    "dbUrl": st.one_of(
        st.lists(label, min_size=1, max_size=4).map(".".join),
        st.tuples(label, st.integers(1, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
        st.sampled_from(["::1", "[::1]:3307", "127.0.0.1", "db.internal."]),
    ),
    "dbPort": st.one_of(st.integers(1, 65535), st.integers(1, 65535).map(str)),
    "dbName": st.text(bmp_text, min_size=1, max_size=64).filter(str.strip),
    "dbUser": st.text(bmp_text, min_size=1, max_size=32).filter(str.strip),
    "reportDate": st.dates(date(1, 1, 2), date(9999, 12, 30)).map(date.isoformat),
    "timezone": st.sampled_from(ZONES),
}
BAD = {
    "dbUrl": st.one_of(
        st.tuples(label, st.integers(-5, 70_000)).map(lambda t: f"{t[0]}:{t[1]}"),
        st.from_regex(r"[a-z]{64,70}\.example", fullmatch=True),
        st.sampled_from(["db.internal:\u0663\u0663", "caf\u00e9.example", "mysql://h/d", "[x]"]),
        st.text(max_size=300),
        json_values,
    ),
    "dbPort": st.one_of(
        st.integers(-5, 70_000),
        st.text(alphabet="0123456789\u0663\u00b3\uff13 +-", max_size=6),
        json_values,
    ),
    "dbName": st.one_of(st.text(min_size=60, max_size=70), st.text(max_size=10), json_values),
    "dbUser": st.one_of(st.text(min_size=30, max_size=40), st.text(max_size=2_000), json_values),
    "reportDate": st.one_of(
        st.sampled_from(["0001-01-01", "9999-12-31", "20261127", "2026-02-30"]),
        st.text(alphabet="0123456789-\uff10\uff12", max_size=12),
        json_values,
    ),
    "timezone": st.one_of(st.text(max_size=70), json_values),
}
passwords = st.one_of(
    st.text(max_size=40),
    st.text(
        alphabet=string.ascii_letters + string.digits + "\u20ac\u00e9-", min_size=3, max_size=40
    ),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with up to two fields left out or made malformed."""
    event = {key: draw(value) for key, value in GOOD.items() if key != "dbPort"}
    if draw(st.booleans()):
        event["dbPort"] = draw(GOOD["dbPort"])
    event["dbPassword"] = draw(passwords)
    for key in draw(st.lists(st.sampled_from(sorted(BAD)), max_size=2, unique=True)):
        if draw(st.integers(0, 3)) == 0:
            event.pop(key, None)
        else:
            event[key] = draw(BAD[key])
    return event


def outcome(event: dict[str, Any]) -> Any:
    try:
        return parse_event(event, now=NOW)
    except EventError as exc:
        return exc


@given(events())
@example({"dbPassword": "pw", "dbUrl": "db", "dbName": "d", "dbUser": "u",
          "reportDate": "9999-12-30", "timezone": "Pacific/Kiritimati"})  # fmt: skip
@example({"dbPassword": "pw", "dbUrl": "db", "dbName": "d", "dbUser": "u",
          "reportDate": "0001-01-02", "timezone": "Etc/GMT+12"})  # fmt: skip
def test_parse_event_gives_a_valid_request_or_our_error(event: dict[str, Any]) -> None:
    result = outcome(event)
    hypothesis.event("refused" if isinstance(result, EventError) else "accepted")
    if isinstance(result, EventError):
        message = str(result)
        assert result.field in {*event, "dbUrl", "dbName", "dbUser", "dbPassword"}
        assert f"'{result.field}'" in message
        assert len(message) <= MESSAGE_LIMIT
        return
    assert 1 <= result.port <= 65535
    assert 0 < len(result.database) <= 64
    assert 0 < len(result.user) <= 32
    result.password.encode("latin-1")
    result.host.encode("idna")  # what the socket will do with it (UnicodeError once)
    start, end = day_bounds_utc(result.report_date, result.timezone)  # OverflowError once
    assert start < end
    assert "dbPassword" not in repr(result)


@given(events())
@example({"dbPassword": "s3cret-\u20ac-pw", "dbUrl": "db", "dbName": "d", "dbUser": "u"})
def test_parse_event_says_nothing_of_the_password(event: dict[str, Any]) -> None:
    password = event["dbPassword"]
    result = outcome(event)
    reference = outcome(
        {**event, "dbPassword": shadow(password) if isinstance(password, str) else password}
    )
    text = str(result) if isinstance(result, EventError) else repr(result)
    known = str(reference) if isinstance(reference, EventError) else repr(reference)
    if isinstance(result, EventError):
        # The message depends on the password's shape at most, never on which one it is.
        assert text == known
    if isinstance(password, str):
        assert_holds_no_part_of(password, text, known=known)
