"""The email text: layout, alignment, totals, the empty day, 80 columns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from reporter.report import EMPTY_DAY, WIDTH, build_report, render_text
from support.rows import row

DAY = date(2026, 11, 27)


ROWS = [
    row(1, "Pastries", 1, "Croissant", 12, "18.00"),
    row(1, "Pastries", 4, "Muffin", 3, "9.00"),
    row(2, "Drinks", 7, "Coffee", 20, "60.00"),
    row(2, "Drinks", 9, "Latte", 5, "17.50"),
]


def text_for(rows: list[dict[str, Any]]) -> str:
    return render_text(build_report(DAY, "UTC", rows))


def test_render_text_matches_the_layout() -> None:
    # Item lines are indented and subtotals start at the margin: no product name can start a
    # line that reads like the report's own (Product Group:, Subtotal, Total).
    assert text_for(ROWS) == (
        "                             Sales Analysis Report\n"
        "                                Date: 2026-11-27\n"
        "\n"
        "Product Group: Pastries\n"
        "\n"
        "  Item Name                                   Quantity         Revenue\n"
        "  ----------------------------------------  ----------  --------------\n"
        "  Croissant                                         12           18.00\n"
        "  Muffin                                             3            9.00\n"
        "                                            ----------  --------------\n"
        "Subtotal                                            15           27.00\n"
        "\n"
        "Product Group: Drinks\n"
        "\n"
        "  Item Name                                   Quantity         Revenue\n"
        "  ----------------------------------------  ----------  --------------\n"
        "  Coffee                                            20           60.00\n"
        "  Latte                                              5           17.50\n"
        "                                            ----------  --------------\n"
        "Subtotal                                            25           77.50\n"
        "\n"
        "======================================================================\n"
        "Total                                               40          104.50\n"
    )


def test_render_text_empty_day_says_so() -> None:
    text = text_for([])
    assert text.splitlines()[:2] == [
        "Sales Analysis Report".center(WIDTH).rstrip(),
        "Date: 2026-11-27".center(WIDTH).rstrip(),
    ]
    assert EMPTY_DAY in text
    assert "Product Group" not in text


def test_render_text_full_length_name_keeps_columns_aligned() -> None:
    name40 = "Roast Chicken, Pesto & Mozzarella Panini"
    assert len(name40) == 40
    rows = [*ROWS, row(3, "Savouries", 20, name40, 1, "7.95")]
    lines = text_for(rows).splitlines()
    item_lines = [line for line in lines if line.endswith((".00", ".50", ".95"))]
    assert any(line.startswith("  " + name40 + "  ") for line in item_lines)
    assert len({len(line) for line in item_lines}) == 1  # right edges line up


def test_render_text_cuts_an_over_long_name_with_an_ellipsis() -> None:
    long_name = "A" * 45
    text = text_for([row(1, "Pastries", 1, long_name, 1, "1.00")])
    assert "A" * 39 + "…  " in text
    assert "A" * 40 not in text


def test_render_text_many_groups_every_line_fits_80_columns_without_tabs() -> None:
    rows = [
        row(g, f"Group {g} " + "x" * 70, g * 100 + i, f"Product {g}-{i} " + "y" * 30, i, "99999.99")
        for g in range(1, 30)
        for i in range(5, 0, -1)
    ]
    text = text_for(rows)
    assert text.count("Product Group:") == 29
    assert "\t" not in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_render_text_totals_add_up() -> None:
    lines = text_for(ROWS).splitlines()
    assert lines[-1].split() == ["Total", "40", "104.50"]
    assert [line.split()[1:] for line in lines if line.startswith("Subtotal")] == [
        ["15", "27.00"],
        ["25", "77.50"],
    ]


def test_render_text_sorts_best_sellers_first_then_by_name() -> None:
    rows = [  # the database's collation may order ties otherwise: the report sorts them
        row(1, "Pastries", 4, "Muffin", 9, "27.00"),
        row(1, "Pastries", 2, "Donut", 3, "3.00"),
        row(1, "Pastries", 1, "Croissant", 3, "4.50"),
    ]
    names = [line.split()[0] for line in text_for(rows).splitlines()[7:10]]
    assert names == ["Muffin", "Croissant", "Donut"]


def test_build_report_totals_are_exact_decimals() -> None:
    rows = [row(1, "P", i, f"p{i}", 1, "0.10") for i in range(10)]
    report = build_report(DAY, "UTC", rows)
    assert report.revenue == Decimal("1.00")
    assert report.products == 10
