"""The report: the extractor's rows grouped and totalled, as 80-column text and as JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple
from unicodedata import east_asian_width

from .errors import ExtractorFailedError
from .rows import MAX_QUANTITY, MAX_REVENUE, checked_rows

WIDTH = 80
NAME_WIDTH = 40  # product_name is VARCHAR(40)
QTY_WIDTH = 10
REVENUE_WIDTH = 14
GAP = "  "
INDENT = "  "  # item lines are indented: no name from the database can start a report line
TITLE = "Sales Analysis Report"
EMPTY_DAY = "There were no orders today."
# One table row. %-formatting with fixed widths: the report formats one line per product sold,
# up to 10^4 of them, and this is 3x faster than f-strings with nested width fields.
_ROW = f"{INDENT}%-{NAME_WIDTH}s{GAP}%{QTY_WIDTH}s{GAP}%{REVENUE_WIDTH}s"
_PADDED_ROW = f"{INDENT}%s{GAP}%{QTY_WIDTH}s{GAP}%{REVENUE_WIDTH}s"  # name already fitted
# Subtotals and the total start at the margin, where no item line can.
_TOTAL_ROW = f"%-{len(INDENT) + NAME_WIDTH}s{GAP}%{QTY_WIDTH}s{GAP}%{REVENUE_WIDTH}s"


class Item(NamedTuple):
    """One product's sales for the day (a tuple: built once per product sold, so cheap)."""

    product_id: int
    name: str
    quantity: int
    revenue: Decimal


@dataclass(frozen=True)
class Group:
    """A product group with its items (best sellers first) and subtotals."""

    number: int
    name: str
    items: tuple[Item, ...]
    quantity: int
    revenue: Decimal


@dataclass(frozen=True)
class Report:
    """A café day's sales, grouped, with the grand totals."""

    day: date
    timezone: str
    groups: tuple[Group, ...]
    quantity: int
    revenue: Decimal

    @property
    def products(self) -> int:
        return sum(len(group.items) for group in self.groups)


def build_report(day: date, timezone: str, rows: Iterable[Mapping[str, Any]]) -> Report:
    """Group and total the extractor's rows. Raises RowError for a row that breaks the contract
    (reporter/rows.py), ExtractorFailedError for totals too wide for the report's columns.

    Items are sorted by quantity (then name) within their group here: the database's collation
    decides the extractor's order of names, and the report's must not depend on it.
    """
    by_group: dict[int, tuple[str, list[Item]]] = {}
    # One pass, no call per row: this loop runs once per product sold (up to 10^4).
    for number, group_name, product_id, name, quantity, revenue in checked_rows(rows):
        group = by_group.get(number)
        if group is None:
            group = by_group[number] = (group_name, [])
        group[1].append(Item(product_id, name, quantity, revenue))
    groups = tuple(
        Group(
            number=number,
            name=name,
            items=_best_sellers_first(items),
            quantity=sum(i.quantity for i in items),
            revenue=sum((i.revenue for i in items), Decimal("0.00")),
        )
        for number, (name, items) in by_group.items()
    )
    report = Report(
        day=day,
        timezone=timezone,
        groups=groups,
        quantity=sum(g.quantity for g in groups),
        revenue=sum((g.revenue for g in groups), Decimal("0.00")),
    )
    if report.quantity > MAX_QUANTITY or report.revenue > MAX_REVENUE:
        raise ExtractorFailedError(
            f"the day's totals (quantity {report.quantity}, revenue {report.revenue:.2f}) are "
            f"over what the report's columns hold ({MAX_QUANTITY}, {MAX_REVENUE}): check the "
            "day's data in the database"
        )
    return report


def _best_sellers_first(items: list[Item]) -> tuple[Item, ...]:
    """Quantity descending, then name, then id: two stable sorts with C-level keys (rows
    usually arrive in this order already, which the sort detects in linear time)."""
    items.sort(key=itemgetter(1, 0))  # name, product_id
    items.sort(key=itemgetter(2), reverse=True)  # quantity; reverse=True keeps ties stable
    return tuple(items)


# Text ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextParts:
    """The report's lines in pieces, so a size limit can cut items without re-formatting."""

    header: tuple[str, ...]
    # Per group: its heading lines, one line per item, its subtotal lines.
    groups: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]
    footer: tuple[str, ...]

    @property
    def items(self) -> int:
        return sum(len(items) for _, items, _ in self.groups)


def text_parts(report: Report) -> TextParts:
    """Format every line of the report once; `assemble` puts them together."""
    header = (
        TITLE.center(WIDTH).rstrip(),
        f"Date: {report.day.isoformat()}".center(WIDTH).rstrip(),
    )
    if not report.groups:
        return TextParts(header, (), ("", EMPTY_DAY.center(WIDTH).rstrip()))
    groups = tuple(
        (
            (
                "",
                _fit(f"Product Group: {group.name}", WIDTH),
                "",
                _row("Item Name", "Quantity", "Revenue"),
                _row("-" * NAME_WIDTH, "-" * QTY_WIDTH, "-" * REVENUE_WIDTH),
            ),
            tuple(
                _ROW % (name, quantity, revenue)
                if len(name) <= NAME_WIDTH and name.isascii()
                else _PADDED_ROW % (_cell(name, NAME_WIDTH), quantity, revenue)
                for _, name, quantity, revenue in group.items
            ),
            (
                _TOTAL_ROW % ("", "-" * QTY_WIDTH, "-" * REVENUE_WIDTH),
                _TOTAL_ROW % ("Subtotal", group.quantity, group.revenue),
            ),
        )
        for group in report.groups
    )
    rule = "=" * (len(INDENT) + NAME_WIDTH + QTY_WIDTH + REVENUE_WIDTH + 2 * len(GAP))
    footer = ("", rule, _TOTAL_ROW % ("Total", report.quantity, report.revenue))
    return TextParts(header, groups, footer)


def cut_note(hidden: int) -> tuple[str, ...]:
    """The lines that say items were left out, and that the totals still count them."""
    return (
        "",
        f"({hidden} more products not shown: the report is over SNS's 256 KiB limit.)",
        "(Subtotals and the total include every product.)",
    )


def assemble(parts: TextParts, max_items: int | None = None) -> str:
    """Join the parts into the text, showing at most `max_items` item lines (all if None)."""
    shown_total = parts.items if max_items is None else min(parts.items, max(0, max_items))
    budget = shown_total
    lines = list(parts.header)
    for head, items, tail in parts.groups:
        shown = items[:budget]
        budget -= len(shown)
        if shown:
            lines += [*head, *shown, *tail]
    hidden = parts.items - shown_total
    if hidden:
        lines += cut_note(hidden)
    lines += parts.footer
    return "\n".join(lines) + "\n"


def render_text(report: Report) -> str:
    """The whole report as plain text: every line at most 80 characters, no tabs."""
    return assemble(text_parts(report))


def _row(name: str, quantity: object, revenue: object) -> str:
    return _ROW % (name, quantity, revenue)


def _fit(text: str, width: int) -> str:
    """`text` in at most `width` columns, cut with an ellipsis if longer."""
    return text if len(text) <= width and text.isascii() else _cell(text, width).rstrip()


def _cell(text: str, width: int) -> str:
    """`text` cut (with an ellipsis) or padded to exactly `width` columns.

    East Asian wide characters take two columns. Every other character counts one, even a
    zero-width one: then the line is never longer than `width` characters either, and only a
    name with zero-width characters shifts its row's numbers left by that many columns.
    """
    costs = [2 if east_asian_width(c) in "WF" else 1 for c in text]
    used = sum(costs)
    if used > width:
        kept, used = 0, 0
        while used + costs[kept] <= width - 1:
            used += costs[kept]
            kept += 1
        text, used = text[:kept] + "…", used + 1
    return text + " " * (width - used)


# JSON ---------------------------------------------------------------------------------------

FULL, SUMMARY, TOTALS = "full", "summary", "totals"


def to_document(report: Report, *, detail: str = FULL, text: str | None = None) -> dict[str, Any]:
    """The JSON variant for machine subscribers.

    `detail` says how much is in it: "full" (groups with items, and the email text),
    "summary" (group subtotals only) or "totals" (grand totals only), for the size limit.
    """
    document: dict[str, Any] = {
        "reportDate": report.day.isoformat(),
        "timezone": report.timezone,
        "detail": detail,
        "totals": {
            "products": report.products,
            "quantity": report.quantity,
            "revenue": _money(report.revenue),
        },
    }
    if detail in (FULL, SUMMARY):
        document["groups"] = [_group_document(g, with_items=detail == FULL) for g in report.groups]
    if detail == FULL and text is not None:
        document["text"] = text
    return document


def _group_document(group: Group, *, with_items: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "product_group_number": group.number,
        "product_group_name": group.name,
        "quantity": group.quantity,
        "revenue": _money(group.revenue),
    }
    if with_items:
        document["items"] = [
            {
                "product_id": i.product_id,
                "product_name": i.name,
                "quantity": i.quantity,
                "revenue": _money(i.revenue),
            }
            for i in group.items
        ]
    return document


def _money(value: Decimal) -> str:
    return f"{value:.2f}"
