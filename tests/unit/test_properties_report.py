"""Property: any rows give a report that keeps its promises, or one of our errors.

Promises: every line within 80 columns (and 80 characters), totals equal to the sum of the
rows, nothing from a row starting a line of its own, a subject of one ASCII line, a message
within SNS's limit. (Examples are fixed: tests/support/properties.py.)
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from unicodedata import east_asian_width

import hypothesis
from hypothesis import example, given
from hypothesis import strategies as st

from reporter.errors import ExtractorFailedError
from reporter.message import SNS_MAX_BYTES, build_message
from reporter.report import EMPTY_DAY, INDENT, TITLE, WIDTH, build_report, render_text
from reporter.rows import MAX_QUANTITY, safe_text
from support.properties import MESSAGE_LIMIT

DAY = date(2026, 11, 27)
KEYS = ["product_group_number", "product_group_name", "product_id", "product_name",
        "quantity", "revenue"]  # fmt: skip

names = st.one_of(
    st.text(min_size=1, max_size=50),
    st.sampled_from(["Latte\nProduct Group: Free", "Total", "Subtotal", "\u202eevil", "抹茶" * 25]),
    st.text(alphabet="ab\n\r\x0b\x85\u2028\t ", min_size=1, max_size=10),
)
junk = st.one_of(
    st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=12),
    st.sampled_from(["NaN", "-1.00", "5.7", "1e3", "Infinity", "\u0661.00", ""]),
)  # fmt: skip


@st.composite
def day_rows(draw: st.DrawFn) -> list[Any]:
    """Rows as the contract has them, sometimes with one value or one row out of place."""
    groups = draw(st.lists(st.integers(-3, 40), max_size=4, unique=True).map(sorted))
    rows: list[Any] = []
    next_id = draw(st.integers(-5, 1000))
    for group in groups:
        group_name = draw(names)
        quantities = draw(st.lists(st.integers(0, MAX_QUANTITY // 100), min_size=1, max_size=5))
        for quantity in sorted(quantities, reverse=True):
            cents = draw(st.integers(0, 10**11))
            rows.append({
                "product_group_number": group, "product_group_name": group_name,
                "product_id": next_id, "product_name": draw(names), "quantity": quantity,
                "revenue": f"{cents // 100}.{cents % 100:02d}",
            })  # fmt: skip
            next_id += draw(st.integers(1, 3))
    if rows and draw(st.integers(0, 3)) == 0:  # one thing broken
        victim = draw(st.integers(0, len(rows) - 1))
        how = draw(st.sampled_from(["value", "drop", "swap", "not a row"]))
        if how == "value":
            rows[victim] = {**rows[victim], draw(st.sampled_from(KEYS)): draw(junk)}
        elif how == "drop":
            rows[victim] = {
                k: v for k, v in rows[victim].items() if k != draw(st.sampled_from(KEYS))
            }
        elif how == "swap" and len(rows) > 1:
            rows.insert(0, rows.pop(victim))
        else:
            rows[victim] = draw(junk)
    return rows


def columns(line: str) -> int:
    return sum(2 if east_asian_width(c) in "WF" else 1 for c in line)


@given(day_rows())
@example([{"product_group_number": 1, "product_group_name": "G", "product_id": 1,
           "product_name": "x", "quantity": 1, "revenue": "NaN"}])  # NaN totals once  # fmt: skip
@example([{"product_group_number": 1, "product_group_name": "G", "product_id": 1,
           "product_name": "x", "quantity": True, "revenue": "1.00"}])  # once 1  # fmt: skip
@example(
    [
        {
            "product_group_number": 0,
            "product_group_name": "0",
            "product_id": 3,
            "product_name": " 0",
            "quantity": 0,
            "revenue": "0.00",
        }
    ]
)  # found: a leading space
@example([{"product_group_number": 1, "product_group_name": "G\nProduct Group: Free",
           "product_id": 1, "product_name": "a\nProduct Group: b", "quantity": 1,
           "revenue": "1.00"}])  # a forged heading once  # fmt: skip
def test_report_keeps_its_promises_or_fails_with_our_error(rows: list[Any]) -> None:
    try:
        report = build_report(DAY, "UTC", rows)
    except ExtractorFailedError as exc:
        error = exc
    else:
        error = None
    hypothesis.event("refused" if error else "built")
    if error is not None:
        assert len(str(error)) <= MESSAGE_LIMIT
        return

    # Totals are the sums of the rows.
    assert report.products == len(rows)
    assert report.quantity == sum(r["quantity"] for r in rows)
    assert report.revenue == sum((Decimal(r["revenue"]) for r in rows), Decimal(0))
    for group in report.groups:
        mine = [r for r in rows if r["product_group_number"] == group.number]
        assert group.quantity == sum(r["quantity"] for r in mine)
        assert group.revenue == sum((Decimal(r["revenue"]) for r in mine), Decimal(0))
        assert group.name == safe_text(mine[0]["product_group_name"])

    # Every line fits; nothing from a row starts a line: the lines are exactly the report's.
    text = render_text(report)
    lines = text.split("\n")[:-1]
    assert text.endswith("\n")
    assert len(text.splitlines()) == len(lines)  # no other kind of line break anywhere
    assert all(len(line) <= WIDTH and columns(line) <= WIDTH for line in lines)
    assert lines[0].strip() == TITLE
    if not rows:
        assert lines[-1].strip() == EMPTY_DAY
        return
    walk = iter(lines[2:])  # the report's own lines, in order; a name can add none
    for group in report.groups:
        assert next(walk) == ""
        assert next(walk).startswith("Product Group: ")
        assert next(walk) == ""
        assert next(walk).startswith(f"{INDENT}Item Name ")
        assert next(walk).startswith(f"{INDENT}-----")
        for item in group.items:
            line = next(walk)
            assert line.startswith(INDENT)
            assert line.split()[-2:] == [str(item.quantity), f"{item.revenue:.2f}"]
        assert next(walk).lstrip().startswith("-----")
        assert next(walk).split() == ["Subtotal", str(group.quantity), f"{group.revenue:.2f}"]
    assert next(walk) == ""
    assert next(walk) == "=" * 70
    assert next(walk).split() == ["Total", str(report.quantity), f"{report.revenue:.2f}"]
    assert next(walk, None) is None

    # The message: one ASCII subject line, within SNS's limit, the JSON with safe names.
    message = build_message(report)
    assert message.subject.isascii()
    assert len(message.subject.splitlines()) == 1
    assert message.size <= SNS_MAX_BYTES
    document = json.loads(json.loads(message.structure)["default"])
    for group in document.get("groups", []):
        assert len(group["product_group_name"].splitlines()) == 1
        for item in group.get("items", []):
            assert len(item["product_name"].splitlines()) == 1
