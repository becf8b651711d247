"""Extractor rows as the contract spells them, for the reporter's tests."""

from __future__ import annotations

from typing import Any


def row(group: int, group_name: str, pid: int, name: str, qty: int, revenue: str) -> dict[str, Any]:
    """One row of the extractor's body."""
    return {
        "product_group_number": group,
        "product_group_name": group_name,
        "product_id": pid,
        "product_name": name,
        "quantity": qty,
        "revenue": revenue,
    }
