"""The strict formats both functions share by copy (extractor/fields.py, reporter/fields.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from extractor import fields
from reporter import fields as reporter_fields

REPO = Path(__file__).resolve().parents[2]


def test_the_two_copies_are_identical() -> None:
    # Duplicated on purpose (each image holds only its own package); never apart.
    extractor_copy = (REPO / "extractor" / "fields.py").read_text(encoding="utf-8")
    reporter_copy = (REPO / "reporter" / "fields.py").read_text(encoding="utf-8")
    assert extractor_copy == reporter_copy, "edit one, then copy it over the other"
    assert reporter_fields.FIRST_DAY == fields.FIRST_DAY


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("short", "'short'"),
        ("x" * 1_000_000, "'" + "x" * 40 + "'… (1000000 characters)"),
        ("line\nbreak", "'line\\nbreak'"),
        (None, "None"),
        (True, "True"),
        (3306.5, "3306.5"),
        (10**100, "an integer of about 101 digits"),
        ({"a": 1}, "a JSON object"),
        ([1, 2], "a JSON array"),
        (b"bytes", "a value of type bytes"),
    ],
)
def test_show_is_bounded(value: object, shown: str) -> None:
    assert fields.show(value) == shown


def test_cut_keeps_a_short_message_and_says_how_long_a_long_one_was() -> None:
    assert fields.cut("short") == "short"
    long = fields.cut("m" * 5000)
    assert long.startswith("m" * 1000 + "…")
    assert long.endswith("(cut: 5000 characters in all)")


@pytest.mark.parametrize(
    ("raw", "port"), [(1, 1), (65535, 65535), ("3306", 3306), (" 3307\n", 3307), ("00080", 80)]
)
def test_port_accepts(raw: object, port: int) -> None:
    assert fields.port(raw) == port


@pytest.mark.parametrize(
    "raw", [0, -1, 65536, True, False, 3306.0, "", "0", "65536", "+1", "1e3", "\u0663", "\u00b3"]
)
def test_port_refuses(raw: object) -> None:
    with pytest.raises(fields.Malformed, match="1 to 65535"):
        fields.port(raw)


def test_day_range_is_where_every_zone_has_a_window() -> None:
    assert fields.day("0001-01-02") == date(1, 1, 2)
    assert fields.day("9999-12-30") == date(9999, 12, 30)
    for edge in ("0001-01-01", "9999-12-31"):
        with pytest.raises(fields.Malformed, match="from 0001-01-02 to 9999-12-30"):
            fields.day(edge)


@pytest.mark.parametrize("raw", ["hunter2\u20ac", "\ud800", 1234, None, b"bytes"])
def test_password_message_never_holds_the_password(raw: object) -> None:
    with pytest.raises(fields.Malformed) as caught:
        fields.password(raw)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None
    for piece in ("hunter2", "\u20ac", "\\u20ac", "\ud800", "1234", "bytes", "position"):
        assert piece not in str(caught.value)
