"""The day's report rows computed independently of the extractor's SQL, for comparison."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pymysql


def expected_rows(conn: pymysql.Connection, day: date, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Every order item fetched raw, its local date and the sums computed in Python.

    `conn` must be in UTC (init_command "SET time_zone = '+00:00'").
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT o.order_date_time, oi.product_id, oi.quantity, oi.amount, p.product_name,"
            " g.product_group_number, g.product_group_name FROM `order` o"
            " JOIN order_item oi ON oi.order_number = o.order_number"
            " JOIN product p ON p.id = oi.product_id"
            " JOIN product_group g ON g.product_group_number = p.product_group"
        )
        raw = cur.fetchall()
    totals: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for moment, product_id, quantity, amount, name, group, group_name in raw:
        if moment.replace(tzinfo=UTC).astimezone(tz).date() == day:
            totals[(group, group_name, product_id, name)][0] += quantity
            totals[(group, group_name, product_id, name)][1] += amount
    rows = [
        {
            "product_group_number": group,
            "product_group_name": group_name,
            "product_id": product_id,
            "product_name": name,
            "quantity": quantity,
            "revenue": f"{revenue:.2f}",
        }
        for (group, group_name, product_id, name), (quantity, revenue) in totals.items()
    ]
    return sorted(
        rows,
        key=lambda r: (
            r["product_group_number"],
            -r["quantity"],
            r["product_name"],
            r["product_id"],
        ),
    )
