"""db/seed.sql and its generator, checked against the real database server."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pymysql
import pytest
from pymysql.constants import CLIENT

from support.database import (
    NOT_PORTABLE_SQL,
    REPO_ROOT,
    SEED_SQL,
    Server,
    run_script,
    throwaway_database,
)

GENERATOR = REPO_ROOT / "db" / "generate_seed.py"

LAB_PRODUCTS = [
    (1, "Croissant", Decimal("1.50"), "Pastries"),
    (2, "Donut", Decimal("1.00"), "Pastries"),
    (3, "Chocolate Chip Cookie", Decimal("2.50"), "Pastries"),
    (4, "Muffin", Decimal("3.00"), "Pastries"),
    (5, "Strawberry Blueberry Tart", Decimal("3.50"), "Pastries"),
    (6, "Strawberry Tart", Decimal("3.50"), "Pastries"),
    (7, "Coffee", Decimal("3.00"), "Drinks"),
    (8, "Hot Chocolate", Decimal("3.00"), "Drinks"),
    (9, "Latte", Decimal("3.50"), "Drinks"),
]


@pytest.fixture
def seeded(server: Server) -> Iterator[pymysql.Connection]:
    """A connection, in UTC, to a fresh database loaded from db/seed.sql."""
    with throwaway_database(server, seed=True) as name:
        conn = server.connect(name, init_command="SET time_zone = '+00:00'")
        try:
            yield conn
        finally:
            conn.close()


def fetch_all(conn: pymysql.Connection, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def fetch_one(conn: pymysql.Connection, sql: str) -> object:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def dump(conn: pymysql.Connection) -> dict[str, list[tuple]]:
    return {
        "product_group": fetch_all(conn, "SELECT * FROM product_group ORDER BY 1"),
        "product": fetch_all(conn, "SELECT * FROM product ORDER BY 1"),
        "order": fetch_all(conn, "SELECT * FROM `order` ORDER BY 1"),
        "order_item": fetch_all(conn, "SELECT * FROM order_item ORDER BY 1, 2"),
    }


def test_seed_loads_the_cafe_schema_and_data(seeded: pymysql.Connection) -> None:
    assert fetch_one(seeded, "SELECT COUNT(*) FROM product_group") == 3
    assert 18 <= fetch_one(seeded, "SELECT COUNT(*) FROM product") <= 22
    assert fetch_one(seeded, "SELECT COUNT(*) FROM order_item") > 0


def test_seed_has_orders_today_and_yesterday(seeded: pymysql.Connection) -> None:
    rows = fetch_all(
        seeded,
        "SELECT DATEDIFF(UTC_DATE(), DATE(order_date_time)), COUNT(*) FROM `order` "
        "WHERE order_date_time >= UTC_DATE() - INTERVAL 1 DAY GROUP BY 1",
    )
    counts = dict(rows)
    assert counts.get(0, 0) > 0
    assert counts.get(1, 0) > 0


def test_seed_has_a_day_without_orders(seeded: pymysql.Connection) -> None:
    days_with_orders = fetch_one(
        seeded,
        "SELECT COUNT(DISTINCT DATE(order_date_time)) FROM `order` "
        "WHERE order_date_time >= UTC_DATE() - INTERVAL 59 DAY",
    )
    assert days_with_orders < 60


def test_seed_orders_fall_in_the_last_60_days(seeded: pymysql.Connection) -> None:
    first, last = fetch_all(
        seeded, "SELECT MIN(DATE(order_date_time)), MAX(DATE(order_date_time)) FROM `order`"
    )[0]
    today = fetch_one(seeded, "SELECT UTC_DATE()")
    assert (today - first).days == 59
    assert last == today


def test_seed_order_count_is_a_few_hundred(seeded: pymysql.Connection) -> None:
    assert 300 <= fetch_one(seeded, "SELECT COUNT(*) FROM `order`") <= 600


def test_seed_order_numbers_follow_time_order(seeded: pymysql.Connection) -> None:
    rows = fetch_all(seeded, "SELECT order_number, order_date_time FROM `order` ORDER BY 1")
    assert [number for number, _ in rows] == list(range(1, len(rows) + 1))
    times = [when for _, when in rows]
    assert times == sorted(times)


def test_seed_order_amount_is_sum_of_items(seeded: pymysql.Connection) -> None:
    mismatched = fetch_all(
        seeded,
        "SELECT o.order_number, o.amount, SUM(i.amount) FROM `order` o "
        "LEFT JOIN order_item i ON i.order_number = o.order_number "
        "GROUP BY o.order_number, o.amount "
        "HAVING SUM(i.amount) IS NULL OR SUM(i.amount) <> o.amount",
    )
    assert mismatched == []


def test_seed_item_amount_is_price_times_quantity(seeded: pymysql.Connection) -> None:
    mismatched = fetch_all(
        seeded,
        "SELECT i.order_number, i.order_item_number FROM order_item i "
        "JOIN product p ON p.id = i.product_id WHERE i.amount <> p.price * i.quantity",
    )
    assert mismatched == []
    assert fetch_one(seeded, "SELECT COUNT(*) FROM order_item WHERE product_id IS NULL") == 0


def test_seed_orders_have_one_to_four_distinct_products(seeded: pymysql.Connection) -> None:
    rows = fetch_all(
        seeded,
        "SELECT COUNT(*), COUNT(DISTINCT product_id), MIN(order_item_number), "
        "MAX(order_item_number), MIN(quantity), MAX(quantity) "
        "FROM order_item GROUP BY order_number",
    )
    for items, products, first, last, fewest, most in rows:
        assert 1 <= items <= 4
        assert products == items
        assert (first, last) == (1, items)
        assert 1 <= fewest <= most <= 3


def test_seed_orders_are_within_opening_hours(seeded: pymysql.Connection) -> None:
    outside = fetch_one(
        seeded,
        "SELECT COUNT(*) FROM `order` "
        "WHERE TIME(order_date_time) < '07:00:00' OR TIME(order_date_time) >= '19:00:00'",
    )
    assert outside == 0


def test_seed_has_exactly_one_product_name_of_40_characters(seeded: pymysql.Connection) -> None:
    names = fetch_all(
        seeded, "SELECT product_name FROM product WHERE CHAR_LENGTH(product_name) = 40"
    )
    assert len(names) == 1


def test_seed_has_the_lab_products_and_prices(seeded: pymysql.Connection) -> None:
    rows = fetch_all(
        seeded,
        "SELECT p.id, p.product_name, p.price, g.product_group_name FROM product p "
        "JOIN product_group g ON g.product_group_number = p.product_group "
        "WHERE p.id <= 9 ORDER BY p.id",
    )
    assert rows == LAB_PRODUCTS


def test_seed_has_a_product_never_sold(seeded: pymysql.Connection) -> None:
    unsold = fetch_all(
        seeded,
        "SELECT p.id FROM product p WHERE NOT EXISTS "
        "(SELECT 1 FROM order_item i WHERE i.product_id = p.id)",
    )
    assert len(unsold) == 1


def test_seed_every_group_has_sales(seeded: pymysql.Connection) -> None:
    groups = fetch_one(
        seeded,
        "SELECT COUNT(DISTINCT p.product_group) FROM order_item i "
        "JOIN product p ON p.id = i.product_id",
    )
    assert groups == 3


def test_seed_creates_order_date_time_index(seeded: pymysql.Connection) -> None:
    columns = fetch_all(
        seeded,
        "SELECT column_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name = 'order' "
        "AND index_name = 'idx_order_date_time' ORDER BY seq_in_index",
    )
    assert columns == [("order_date_time",)]


def test_seed_loads_identically_twice(server: Server) -> None:
    dumps = []
    for _ in range(2):
        with throwaway_database(server, seed=True) as name:
            conn = server.connect(name, init_command="SET time_zone = '+00:00'")
            try:
                dumps.append(dump(conn))
            finally:
                conn.close()
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["order_item"]) > 0


def test_seed_reloads_into_a_loaded_database(server: Server, seeded: pymysql.Connection) -> None:
    before = dump(seeded)
    name = fetch_one(seeded, "SELECT DATABASE()")
    conn = server.connect(name, client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        run_script(conn, SEED_SQL.read_text(encoding="utf-8"))
    finally:
        conn.close()
    assert dump(seeded) == before


@pytest.mark.parametrize("pattern", NOT_PORTABLE_SQL)
def test_seed_sql_avoids_mariadb_only_syntax(pattern: str) -> None:
    code = "\n".join(
        line
        for line in SEED_SQL.read_text(encoding="utf-8").splitlines()
        if not line.startswith("--")
    )
    assert not re.search(pattern, code, flags=re.IGNORECASE | re.MULTILINE)


def test_seed_generator_check_passes_on_committed_file() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_seed_generator_check_fails_on_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "seed.sql"
    stale.write_text(SEED_SQL.read_text(encoding="utf-8") + "-- edited by hand\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--seed-file", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "out of date" in result.stderr


def test_seed_generator_output_is_stable() -> None:
    outputs = {
        subprocess.run(
            [sys.executable, str(GENERATOR)], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert outputs == {SEED_SQL.read_text(encoding="utf-8")}
