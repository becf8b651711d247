"""The extractor's rows, checked against its contract before anything is built or published.

The reporter trusts nothing it is handed: a row that breaks the contract (a wrong type, a
negative or non-finite amount, an empty name, the wrong order) fails the run with a message
naming the row, and the text of the names is made safe to put in an email.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, NoReturn

from .errors import RowError
from .fields import show

# What the report's fixed-width columns can hold (report.QTY_WIDTH, report.REVENUE_WIDTH);
# a test keeps the two in step.
MAX_QUANTITY = 9_999_999_999
MAX_REVENUE = Decimal("99999999999.99")
_ID_RANGE = range(-(2**63), 2**63)  # BIGINT, the widest key MySQL has
_MONEY = re.compile(r"[0-9]{1,11}\.[0-9]{2}")  # the contract's two-decimal string
# Control characters (C0, DEL, C1), every line or paragraph break str.splitlines() knows
# (\n \r \v \f \x1c-\x1e \x85 \u2028 \u2029), the bidirectional controls that can reorder
# what a reader sees on a line, and lone surrogates (which UTF-8 cannot carry).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
REPLACEMENT = "\ufffd"
KEYS = (
    "product_group_number",
    "product_group_name",
    "product_id",
    "product_name",
    "quantity",
    "revenue",
)


# One checked row: group number, group name, product id, product name, quantity, revenue; the
# names made safe, the revenue a Decimal. A plain tuple: one is built per product sold.
Row = tuple[int, str, int, str, int, Decimal]


def safe_text(text: str) -> str:
    """`text` with every character that could break a line or hide text replaced by U+FFFD."""
    return _UNSAFE.sub(REPLACEMENT, text)


def checked_rows(rows: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Check every row; return them as Rows, or raise RowError naming the first bad one.

    The contract (DESIGN.md): integers (not booleans) for ids and the quantity, the revenue as
    a non-negative string with two decimals, non-empty names, one row per product, one name per
    group, ordered by group number, then quantity descending. The tie-break by product name is
    not checked: it follows the database's collation, and the report sorts ties itself.
    """
    checked: list[Row] = []
    group_names: dict[int, str] = {}
    seen: set[int] = set()
    low, high = _ID_RANGE.start, _ID_RANGE.stop - 1
    money, unsafe = _MONEY.fullmatch, _UNSAFE.search
    last_group, last_quantity = low - 1, 0
    # One pass with the checks inline: this runs once per product sold (up to 10^4), and a call
    # per field made it 5x slower. A row that fails here goes to _explain for the message.
    for number, raw in enumerate(rows, start=1):
        try:
            group, group_name, product_id, name, quantity, revenue = (
                raw["product_group_number"],
                raw["product_group_name"],
                raw["product_id"],
                raw["product_name"],
                raw["quantity"],
                raw["revenue"],
            )
        except (KeyError, TypeError, IndexError):
            _explain(number, raw)
        if not (
            type(product_id) is int
            and type(group) is int
            and type(quantity) is int
            and low <= product_id <= high
            and low <= group <= high
            and 0 <= quantity <= MAX_QUANTITY
            and type(name) is str
            and type(group_name) is str
            and type(revenue) is str
            and name
            and group_name
            and not name.isspace()
            and not group_name.isspace()
            and money(revenue)
        ):
            _explain(number, raw)
        if unsafe(name):
            name = safe_text(name)
        if product_id in seen:
            raise RowError(number, "product_id", f"{product_id} comes twice", product_id)
        seen.add(product_id)
        if group != last_group:
            group_names[group] = group_name
            safe_group_name = safe_text(group_name) if unsafe(group_name) else group_name
        elif group_name != group_names[group]:
            raise RowError(
                number,
                "product_group_name",
                f"is {show(group_name)}, where an earlier row of group {group} has "
                f"{show(group_names[group])}",
                product_id,
            )
        if group < last_group or (group == last_group and quantity > last_quantity):
            raise RowError(
                number,
                None,
                f"(group {group}, quantity {quantity}) comes after (group {last_group}, "
                f"quantity {last_quantity}): rows must be ordered by group number, then "
                "quantity descending",
                product_id,
            )
        last_group, last_quantity = group, quantity
        checked.append((group, safe_group_name, product_id, name, quantity, Decimal(revenue)))
    return checked


def _explain(number: int, raw: object) -> NoReturn:
    """Raise the RowError that says what is wrong with a row the fast checks refused."""
    if not isinstance(raw, Mapping):
        raise RowError(number, None, f"is {show(raw)}, not a JSON object")
    missing = [key for key in KEYS if key not in raw]
    if missing:
        raise RowError(number, missing[0], "is missing")
    _integer(number, raw, "product_id", _ID_RANGE, None)
    product_id = raw["product_id"]
    _integer(number, raw, "product_group_number", _ID_RANGE, product_id)
    _name(number, raw, "product_group_name", product_id)
    _name(number, raw, "product_name", product_id)
    _integer(number, raw, "quantity", range(MAX_QUANTITY + 1), product_id)
    _money(number, raw, product_id)
    raise RowError(number, None, "is not a JSON object of the contract's fields", product_id)


def _integer(number: int, raw: Mapping, key: str, allowed: range, product_id: int | None) -> None:
    value = raw[key]
    if type(value) is not int or value not in allowed:  # type(): True is an int, not a count
        raise RowError(
            number,
            key,
            f"must be an integer from {allowed.start} to {allowed.stop - 1}, got {show(value)}",
            product_id,
        )


def _name(number: int, raw: Mapping, key: str, product_id: int) -> None:
    value = raw[key]
    if type(value) is not str or not value or value.isspace():
        raise RowError(number, key, f"must be a non-empty string, got {show(value)}", product_id)


def _money(number: int, raw: Mapping, product_id: int) -> None:
    value = raw["revenue"]
    if type(value) is not str or not _MONEY.fullmatch(value):
        raise RowError(
            number,
            "revenue",
            f"must be an amount from 0.00 to {MAX_REVENUE} as a string with two decimals "
            f"(e.g. '12.50'), got {show(value)}",
            product_id,
        )
