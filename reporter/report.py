"""The report: the extractor's rows grouped and totalled, as 80-column text and as JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, NamedTuple

from .errors import ExtractorFailedError

WIDTH = 80
NAME_WIDTH = 40  # product_name is VARCHAR(40)
QTY_WIDTH = 10
REVENUE_WIDTH = 14
GAP = "  "
TITLE = "Sales Analysis Report"
EMPTY_DAY = "There were no orders today."
_CENT = Decimal("0.01")
# One table row. %-formatting with fixed widths: the report formats one line per product sold,
# up to 10^4 of them, and this is 3x faster than f-strings with nested width fields.
_ROW = f"%-{NAME_WIDTH}s{GAP}%{QTY_WIDTH}s{GAP}%{REVENUE_WIDTH}s"


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
    """Group and total the extractor's rows. Raises ExtractorFailedError on a malformed row.

    Groups are sorted by number and items by quantity (then name) here, whatever order the
    rows come in: the lab's report broke when rows arrived ungrouped.
    """
    by_group: dict[int, tuple[str, list[Item]]] = {}
    index = 0
    try:
        # One pass, no call per row: this loop runs once per product sold (up to 10^4).
        for index, row in enumerate(rows):  # noqa: B007 (index names the bad row below)
            number = int(row["product_group_number"])
            group_name = str(row["product_group_name"])
            item = Item(
                int(row["product_id"]),
                str(row["product_name"]),
                int(row["quantity"]),
                Decimal(str(row["revenue"])).quantize(_CENT),
            )
            group = by_group.get(number)
            if group is None:
                group = by_group[number] = (group_name, [])
            group[1].append(item)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ExtractorFailedError(
            f"the extractor returned a malformed row #{index} ({type(exc).__name__}: {exc}): "
            "are the reporter and extractor images from the same release?"
        ) from exc
    groups = tuple(
        Group(
            number=number,
            name=name,
            items=_best_sellers_first(items),
            quantity=sum(i.quantity for i in items),
            revenue=sum((i.revenue for i in items), Decimal("0.00")),
        )
        for number, (name, items) in sorted(by_group.items())
    )
    return Report(
        day=day,
        timezone=timezone,
        groups=groups,
        quantity=sum(g.quantity for g in groups),
        revenue=sum((g.revenue for g in groups), Decimal("0.00")),
    )


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
                _ROW
                % (name if len(name) <= NAME_WIDTH else _fit(name, NAME_WIDTH), quantity, revenue)
                for _, name, quantity, revenue in group.items
            ),
            (
                _row("", "-" * QTY_WIDTH, "-" * REVENUE_WIDTH),
                _row("Subtotal", group.quantity, group.revenue),
            ),
        )
        for group in report.groups
    )
    rule = "=" * (NAME_WIDTH + QTY_WIDTH + REVENUE_WIDTH + 2 * len(GAP))
    footer = ("", rule, _row("Total", report.quantity, report.revenue))
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
    return text if len(text) <= width else text[: width - 1] + "…"


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
