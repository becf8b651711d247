"""The SNS message: subject, text for email, JSON for machines, and the 256 KiB guard."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from reporter.message import SNS_MAX_BYTES, build_message, subject_for
from reporter.report import WIDTH, build_report, render_text

DAY = date(2026, 11, 27)


def rows(count: int, *, groups: int = 3, name: str = "Product") -> list[dict]:
    """`count` products in the contract's order: group, then quantity descending."""
    made = [
        {
            "product_group_number": i % groups + 1,
            "product_group_name": f"Group {i % groups + 1}",
            "product_id": i,
            "product_name": f"{name} {i:05d} with a fairly long name"[:40],
            "quantity": 1 + i % 7,
            "revenue": f"{(1 + i % 7) * 2.5:.2f}",
        }
        for i in range(count)
    ]
    return sorted(made, key=lambda r: (r["product_group_number"], -r["quantity"]))


def parse(structure: str) -> tuple[dict, str]:
    outer = json.loads(structure)
    assert set(outer) == {"default", "email"}
    return json.loads(outer["default"]), outer["email"]


def test_subject_for_is_one_short_ascii_line() -> None:
    subject = subject_for(DAY)
    assert subject == "Daily Sales Analysis Report 2026-11-27"
    assert subject.isascii()
    assert len(subject) <= 100
    assert "\n" not in subject


def test_build_message_small_report_is_complete() -> None:
    report = build_report(DAY, "Europe/Paris", rows(12))
    message = build_message(report)
    document, email = parse(message.structure)
    assert message.detail == "full"
    assert email == render_text(report) == message.text
    assert document["text"] == email
    assert document["reportDate"] == "2026-11-27"
    assert document["timezone"] == "Europe/Paris"
    assert document["totals"]["products"] == 12
    assert sum(len(g["items"]) for g in document["groups"]) == 12
    assert message.items_shown == message.items_total == 12


def test_build_message_empty_day_has_empty_groups() -> None:
    document, email = parse(build_message(build_report(DAY, "UTC", [])).structure)
    assert document["groups"] == []
    assert document["totals"] == {"products": 0, "quantity": 0, "revenue": "0.00"}
    assert "There were no orders today." in email


@pytest.mark.parametrize("count", [1_500, 10_000])
def test_build_message_large_report_fits_and_says_what_was_cut(count: int) -> None:
    report = build_report(DAY, "UTC", rows(count))
    message = build_message(report)
    document, email = parse(message.structure)
    assert message.size <= SNS_MAX_BYTES
    assert len(message.structure.encode()) + len(message.subject) == message.size
    assert document["totals"]["products"] == count
    assert Decimal(document["totals"]["revenue"]) == report.revenue
    assert email.splitlines()[-1].split()[-1] == f"{report.revenue:.2f}"  # total of everything
    assert max(len(line) for line in email.splitlines()) <= WIDTH
    if message.detail == "totals":
        assert "groups" not in document
        hidden = count - message.items_shown
        assert f"({hidden} more products not shown" in email
        assert 0 < message.items_shown < count
    else:
        assert message.detail == "summary"
        assert all("items" not in g for g in document["groups"])
        assert message.items_shown == count


def test_build_message_drops_items_from_json_before_cutting_text() -> None:
    report = build_report(DAY, "UTC", rows(1_500))
    message = build_message(report)
    assert message.detail == "summary"  # the text alone still fits
    assert "more products not shown" not in message.text


def test_build_message_cuts_as_few_items_as_possible() -> None:
    report = build_report(DAY, "UTC", rows(400))
    limit = 20_000
    message = build_message(report, max_bytes=limit)
    assert message.detail == "totals"
    assert message.size <= limit
    bigger = build_message(report, max_bytes=message.size + 40)  # less than one more item line
    assert bigger.items_shown == message.items_shown


def test_build_message_counts_utf8_bytes_not_characters() -> None:
    report = build_report(DAY, "UTC", rows(10_000, name='Café "crème" ☕'))
    message = build_message(report)
    assert message.size <= SNS_MAX_BYTES
    assert len(message.structure) < message.size  # multi-byte characters were counted as such


def test_build_message_impossible_limit_raises_rather_than_sending_too_much() -> None:
    from reporter.errors import ReporterError

    with pytest.raises(ReporterError, match="does not fit"):
        build_message(build_report(DAY, "UTC", rows(10)), max_bytes=100)
