"""The one aggregate query behind the report, and the shaping of its rows into the contract."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pymysql

from .db import DEFAULT_LIMIT_S, READ_TIMEOUT_S, connect
from .dialect import STATEMENT_TIMEOUTS, with_time_limit
from .errors import QueryError
from .event import ExtractRequest
from .window import day_bounds_utc

log = logging.getLogger(__name__)

# Portable to MySQL 8 and MariaDB under ONLY_FULL_GROUP_BY: every selected column is grouped
# or aggregated. The date range is sargable, so idx_order_date_time finds the day's orders.
# The day's items are summed per product first, and only those sums (one row per product) are
# joined to product and product_group: joining first looked up the product and its group once
# per item (about 2x the database time on a day of 15,000 items, see bench/RESULTS.md).
SALES_QUERY = """
SELECT pg.product_group_number,
       pg.product_group_name,
       p.id AS product_id,
       p.product_name,
       s.quantity,
       s.revenue
FROM (
    SELECT oi.product_id,
           COALESCE(SUM(oi.quantity), 0) AS quantity,
           SUM(oi.amount) AS revenue
    FROM `order` AS o
    JOIN order_item AS oi ON oi.order_number = o.order_number
    WHERE o.order_date_time >= %s AND o.order_date_time < %s
    GROUP BY oi.product_id
) AS s
JOIN product AS p ON p.id = s.product_id
JOIN product_group AS pg ON pg.product_group_number = p.product_group
ORDER BY pg.product_group_number, s.quantity DESC, p.product_name, p.id
"""

SERVER_MARGIN_S = 0.5
_SCHEMA_HINT = "check that the café schema is loaded (db/seed.sql) in the database named by dbName"


def shape_row(row: dict[str, Any]) -> dict[str, Any]:
    """Turn one result row into the contract's JSON-ready row (int quantity, 2-decimal string)."""
    revenue = row["revenue"] if isinstance(row["revenue"], Decimal) else Decimal(row["revenue"])
    return {
        "product_group_number": int(row["product_group_number"]),
        "product_group_name": row["product_group_name"],
        "product_id": int(row["product_id"]),
        "product_name": row["product_name"],
        "quantity": int(row["quantity"]),
        "revenue": f"{revenue:.2f}",
    }


def fetch_sales(
    conn: pymysql.Connection, start: datetime, end: datetime, seconds: float = READ_TIMEOUT_S
) -> list[dict[str, Any]]:
    """Run the query for [start, end) (naive UTC); return contract rows. Raises QueryError.

    The server stops the query itself after `seconds`, with its own clear error.
    """
    sql = with_time_limit(SALES_QUERY, conn.get_server_info(), seconds)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, (start, end))
            rows = cur.fetchall()
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] in STATEMENT_TIMEOUTS:
            raise QueryError(
                str(exc),
                f"the server stopped the query at the extractor's limit of {seconds:.1f}s: check "
                "that the idx_order_date_time index exists "
                "(db/migrations/001_order_date_time_index.sql) and the database's load",
            ) from exc
        if isinstance(exc, pymysql.err.OperationalError):
            raise QueryError(
                str(exc),
                "the server did not answer or dropped the connection: check the database's "
                "load and that the idx_order_date_time index exists "
                "(db/migrations/001_order_date_time_index.sql)",
            ) from exc
        raise QueryError(str(exc), _SCHEMA_HINT) from exc
    return [shape_row(row) for row in rows]


def extract_sales(request: ExtractRequest, deadline: float | None = None) -> list[dict[str, Any]]:
    """Connect, query the requested café day, close; return its rows. Raises ExtractorError.

    `deadline` (time.monotonic()) bounds the whole database conversation (db.connect).
    """
    start, end = day_bounds_utc(request.report_date, request.timezone)
    began = time.perf_counter()
    if deadline is None:
        deadline = time.monotonic() + DEFAULT_LIMIT_S
    with connect(request, deadline) as conn:
        connected = time.perf_counter()
        log.info(
            "connected to %s:%d",
            request.host,
            request.port,
            extra={"step": "connect", "ms": _ms(began, connected)},
        )
        # The server's limit ends a moment before the watchdog's, so its clearer error wins.
        rows = fetch_sales(conn, start, end, deadline - time.monotonic() - SERVER_MARGIN_S)
    log.info(
        "query returned %d rows for %s",
        len(rows),
        request.report_date.isoformat(),
        extra={"step": "query", "ms": _ms(connected, time.perf_counter()), "rows": len(rows)},
    )
    return rows


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)
