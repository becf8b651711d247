"""The extractor's rows checked before anything is built, and names made safe for email."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from reporter.errors import ExtractorFailedError, RowError
from reporter.message import build_message
from reporter.report import QTY_WIDTH, REVENUE_WIDTH, WIDTH, build_report, render_text, to_document
from reporter.rows import MAX_QUANTITY, MAX_REVENUE, checked_rows, safe_text
from support.rows import row as contract_row

DAY = date(2026, 11, 27)


def row(group: int, pid: int, name: str, qty: int, revenue: str, group_name: str = "Drinks"):
    return contract_row(group, group_name, pid, name, qty, revenue)


GOOD = [row(1, 1, "Coffee", 20, "60.00"), row(1, 2, "Latte", 5, "17.50")]


def test_checked_rows_returns_typed_rows() -> None:
    first, second = checked_rows(GOOD)
    assert first == (1, "Drinks", 1, "Coffee", 20, Decimal("60.00"))
    assert second[5] == Decimal("17.50")


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        # What issue 10 found published: NaN totals, a negative quantity, 5.7 cut to 5, true
        # counted as 1, None printed as a name.
        ({"revenue": "NaN"}, "revenue", "two decimals"),
        ({"revenue": "Infinity"}, "revenue", "two decimals"),
        ({"revenue": "-1.00"}, "revenue", "from 0.00"),
        ({"revenue": "1.5"}, "revenue", "two decimals"),
        ({"revenue": "1.505"}, "revenue", "two decimals"),
        ({"revenue": 1.5}, "revenue", "as a string"),
        ({"revenue": "\u0661.00"}, "revenue", "two decimals"),
        ({"revenue": "100000000000.00"}, "revenue", "99999999999.99"),
        ({"quantity": -1}, "quantity", "from 0 to 9999999999"),
        ({"quantity": 5.7}, "quantity", "integer"),
        ({"quantity": True}, "quantity", "integer"),
        ({"quantity": "3"}, "quantity", "integer"),
        ({"quantity": MAX_QUANTITY + 1}, "quantity", "integer"),
        ({"product_id": False}, "product_id", "integer"),
        ({"product_id": 2**63}, "product_id", "integer"),
        ({"product_group_number": 1.0}, "product_group_number", "integer"),
        ({"product_name": None}, "product_name", "non-empty string"),
        ({"product_name": " \t"}, "product_name", "non-empty string"),
        ({"product_name": 42}, "product_name", "non-empty string"),
        ({"product_group_name": ""}, "product_group_name", "non-empty string"),
        ({"product_group_name": "Teas"}, "product_group_name", "earlier row of group 1"),
        ({"product_id": 1}, "product_id", "comes twice"),
        ({"quantity": 21}, None, "quantity descending"),
        ({"product_group_number": 0}, None, "ordered by group"),
    ],
)
def test_checked_rows_refuses_a_bad_row_by_number_and_field(
    bad: dict[str, Any], field: str | None, fragment: str
) -> None:
    rows = [GOOD[0], {**GOOD[1], **bad}]
    with pytest.raises(RowError) as caught:
        checked_rows(rows)
    assert caught.value.row == 2
    assert caught.value.field == field
    assert "bad row 2" in str(caught.value)
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 400
    assert isinstance(caught.value, ExtractorFailedError)  # fails the run, as before


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("not a row", "not a JSON object"),
        (None, "not a JSON object"),
        ({"product_group_number": 1}, "'product_group_name' is missing"),
        ({k: v for k, v in GOOD[1].items() if k != "revenue"}, "'revenue' is missing"),
    ],
)
def test_checked_rows_refuses_what_is_not_a_row(bad: object, fragment: str) -> None:
    with pytest.raises(RowError, match="bad row 2") as caught:
        checked_rows([GOOD[0], bad])  # type: ignore[list-item]
    assert fragment in str(caught.value)


def test_checked_rows_refuses_a_string_subclass_as_a_name() -> None:
    class Text(str):
        pass

    with pytest.raises(RowError, match="'product_name' must be a non-empty string"):
        checked_rows([GOOD[0], {**GOOD[1], "product_name": Text("Latte")}])


def test_checked_rows_a_huge_name_gives_a_short_message() -> None:
    with pytest.raises(RowError) as caught:
        checked_rows([GOOD[0], {**GOOD[1], "product_group_name": "G" * 1_000_000}])
    assert "(1000000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("Latte\nProduct Group: Free", "Latte\ufffdProduct Group: Free"),
        (
            "a\rb\x0bc\x0cd\x1ce\x85f\u2028g\u2029h",
            "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh",
        ),
        ("tab\there", "tab\ufffdhere"),
        ("nul\x00bell\x07del\x7f", "nul\ufffdbell\ufffddel\ufffd"),
        ("evil\u202eesrever", "evil\ufffdesrever"),
        ("lone\ud800", "lone\ufffd"),
        ("Café crème ☕ 抹茶", "Café crème ☕ 抹茶"),  # ordinary text is kept
    ],
)
def test_safe_text_replaces_what_could_break_or_hide_a_line(text: str, safe: str) -> None:
    assert safe_text(text) == safe
    assert len(safe_text(text).splitlines()) == 1


def test_report_no_name_can_start_a_line_or_forge_a_heading() -> None:
    rows = [
        row(1, 1, "Latte\nProduct Group: Free drinks", 3, "9.00", "Drinks\r\nSubtotal 999"),
        row(1, 2, "Product Group: Forged", 2, "4.00", "Drinks\r\nSubtotal 999"),
        row(1, 3, "Total", 1, "1.00", "Drinks\r\nSubtotal 999"),
    ]
    report = build_report(DAY, "UTC", rows)
    text = render_text(report)
    lines = text.splitlines()
    assert [x for x in lines if x.startswith("Product Group:")] == [
        "Product Group: Drinks\ufffd\ufffdSubtotal 999"
    ]
    assert [x.split()[0] for x in lines if x.startswith(("Subtotal", "Total"))] == [
        "Subtotal",
        "Total",
    ]
    assert "  Latte\ufffdProduct Group: Free drinks" in text
    message = build_message(report)
    document = json.loads(json.loads(message.structure)["default"])
    names = [i["product_name"] for g in document["groups"] for i in g["items"]]
    assert "Latte\ufffdProduct Group: Free drinks" in names
    assert document["groups"][0]["product_group_name"] == "Drinks\ufffd\ufffdSubtotal 999"
    assert "\n" not in message.subject
    assert message.subject.isascii()


def columns(line: str) -> int:
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(c) in "WF" else 1 for c in line)


def test_report_wide_names_keep_80_columns_and_alignment() -> None:
    rows = [
        row(1, 1, "抹茶ラテ" * 8, 3, "9.00", "飲み物" * 30),
        row(1, 2, "Café crème", 2, "4.00", "飲み物" * 30),
        row(1, 3, "☕" * 19 + "x", 1, "1.00", "飲み物" * 30),
    ]
    lines = render_text(build_report(DAY, "UTC", rows)).splitlines()
    assert max(columns(x) for x in lines) <= WIDTH
    assert max(len(x) for x in lines) <= WIDTH
    items = [x for x in lines if x.endswith(("9.00", "4.00", "1.00")) and x.startswith("  ")]
    assert len(items) == 3
    assert len({columns(x) for x in items}) == 1  # right edges line up on screen
    assert "抹茶ラテ" * 4 + "抹茶ラ…" in items[0]  # cut at 40 columns with an ellipsis


def test_report_totals_wider_than_their_columns_are_refused() -> None:
    assert len(str(MAX_QUANTITY)) == QTY_WIDTH
    assert len(str(MAX_REVENUE)) == REVENUE_WIDTH
    rows = [row(1, 1, "A", MAX_QUANTITY, "1.00"), row(1, 2, "B", 1, "1.00")]
    with pytest.raises(ExtractorFailedError, match="over what the report's columns hold"):
        build_report(DAY, "UTC", rows)
    rows = [row(1, 1, "A", 1, str(MAX_REVENUE)), row(1, 2, "B", 1, "0.01")]
    with pytest.raises(ExtractorFailedError, match="over what the report's columns hold"):
        build_report(DAY, "UTC", rows)


def test_report_at_the_column_limits_still_fits_80_columns() -> None:
    rows = [row(1, 1, "A" * 40, MAX_QUANTITY, str(MAX_REVENUE))]
    report = build_report(DAY, "UTC", rows)
    assert max(len(x) for x in render_text(report).splitlines()) <= WIDTH
    assert to_document(report)["totals"]["revenue"] == str(MAX_REVENUE)
