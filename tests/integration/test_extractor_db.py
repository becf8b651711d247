"""The extractor against the real database server, under MySQL 8's sql_mode."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pymysql
import pytest

from extractor import db as extractor_db
from extractor.errors import (
    DatabaseAuthError,
    DatabaseUnreachableError,
    QueryError,
    UnknownDatabaseError,
)
from extractor.handler import lambda_handler
from support.database import Server, extractor_event, reader_user
from support.sales import expected_rows

PARIS = ZoneInfo("Europe/Paris")
# The lab's query, verbatim in substance: no date filter, an incomplete GROUP BY.
LAB_QUERY = (
    "SELECT c.product_group_number, c.product_group_name, a.product_id, b.product_name, "
    "CAST(sum(a.quantity) AS int) as quantity FROM order_item a, product b, product_group c "
    "WHERE b.id = a.product_id AND c.product_group_number = b.product_group "
    "GROUP BY c.product_group_number, a.product_id"
)


@pytest.fixture
def conn(server: Server, cafe_db: str) -> Iterator[pymysql.Connection]:
    """An administrator connection in UTC to the throwaway café database."""
    conn = server.connect(cafe_db, init_command="SET time_zone = '+00:00'")
    try:
        yield conn
    finally:
        conn.close()


def insert_orders(conn: pymysql.Connection, orders: list[tuple[datetime, list[tuple]]]) -> None:
    """Replace all orders with `orders`: (UTC instant, [(product_id, quantity, amount)])."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM order_item")
        cur.execute("DELETE FROM `order`")
        for number, (moment, items) in enumerate(orders, start=1):
            total = sum((amount for _, _, amount in items), Decimal(0))
            cur.execute(
                "INSERT INTO `order` (order_number, order_date_time, amount) VALUES (%s, %s, %s)",
                (number, moment.astimezone(UTC).replace(tzinfo=None), total),
            )
            cur.executemany(
                "INSERT INTO order_item (order_number, order_item_number, product_id, quantity,"
                " amount) VALUES (%s, %s, %s, %s, %s)",
                [(number, i, *item) for i, item in enumerate(items, start=1)],
            )


def prices(conn: pymysql.Connection) -> dict[int, Decimal]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, price FROM product")
        return dict(cur.fetchall())


def test_extractor_totals_match_an_independent_computation(
    server: Server, cafe_db: str, conn: pymysql.Connection
) -> None:
    rng = random.Random(7)
    price = prices(conn)
    day = date(2026, 3, 29)  # Paris springs forward: a 23-hour café day
    midnight = datetime(2026, 3, 29, tzinfo=PARIS)
    next_midnight = datetime(2026, 3, 30, tzinfo=PARIS)
    edges = [
        midnight - timedelta(seconds=1),  # yesterday, one second before
        midnight,  # the first instant of the day
        next_midnight - timedelta(seconds=1),  # the last second of the day
        next_midnight,  # tomorrow
    ]
    moments = edges + [
        midnight + timedelta(minutes=rng.randrange(-36 * 60, 48 * 60)) for _ in range(120)
    ]
    orders = []
    for moment in moments:
        picks = rng.sample(sorted(price), rng.randint(1, 4))
        items = [(pid, q, price[pid] * q) for pid in picks for q in [rng.randint(1, 3)]]
        orders.append((moment, items))
    insert_orders(conn, orders)

    result = lambda_handler(extractor_event(server, cafe_db, day, "Europe/Paris"), None)

    expected = expected_rows(conn, day, PARIS)
    assert result == {"statusCode": 200, "reportDate": "2026-03-29", "body": expected}
    assert len(expected) >= 10  # the comparison is not between two empty lists


def test_extractor_midnight_edges_belong_to_their_own_day(
    server: Server, cafe_db: str, conn: pymysql.Connection
) -> None:
    day = date(2026, 11, 27)
    midnight = datetime(2026, 11, 27, tzinfo=PARIS)
    croissant, coffee, latte = (
        (1, 1, Decimal("1.50")),
        (7, 2, Decimal("6.00")),
        (9, 1, Decimal("3.50")),
    )
    insert_orders(
        conn,
        [
            (midnight - timedelta(microseconds=1_000_000), [latte]),  # 23:59:59 the day before
            (midnight, [croissant]),
            (midnight + timedelta(hours=23, minutes=59, seconds=59), [coffee]),
            (midnight + timedelta(days=1), [latte]),  # 00:00:00 the day after
        ],
    )
    body = lambda_handler(extractor_event(server, cafe_db, day, "Europe/Paris"), None)["body"]
    assert [(r["product_name"], r["quantity"], r["revenue"]) for r in body] == [
        ("Croissant", 1, "1.50"),
        ("Coffee", 2, "6.00"),
    ]
    utc_body = lambda_handler(extractor_event(server, cafe_db, day, "UTC"), None)["body"]
    assert {r["product_name"] for r in utc_body} == {"Coffee", "Latte"}  # 23:00Z-22:59Z shift


def test_extractor_seeded_today_matches_an_independent_computation(
    server: Server, cafe_db: str, conn: pymysql.Connection
) -> None:
    today = datetime.now(UTC).date()
    body = lambda_handler(extractor_event(server, cafe_db, today), None)["body"]
    assert body == expected_rows(conn, today, ZoneInfo("UTC"))
    assert body, "db/seed.sql promises orders today"


def test_extractor_empty_day_returns_no_rows(server: Server, cafe_db: str) -> None:
    closed = datetime.now(UTC).date() - timedelta(days=6)  # the seed's weekly closing day
    result = lambda_handler(extractor_event(server, cafe_db, closed), None)
    assert result == {"statusCode": 200, "reportDate": closed.isoformat(), "body": []}


def test_extractor_orders_rows_by_group_then_quantity(server: Server, cafe_db: str) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    body = lambda_handler(extractor_event(server, cafe_db, yesterday), None)["body"]
    keys = [(r["product_group_number"], -r["quantity"], r["product_name"]) for r in body]
    assert keys == sorted(keys)
    assert all(isinstance(r["quantity"], int) and isinstance(r["revenue"], str) for r in body)


def test_extractor_lab_query_is_rejected_under_mysql8_sql_mode(conn: pymysql.Connection) -> None:
    # Proves the server really runs with ONLY_FULL_GROUP_BY, so the tests above mean something.
    with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as caught:
        cur.execute(LAB_QUERY)
    assert caught.value.args[0] == 1055


def test_extractor_wrong_password_is_named(server: Server, cafe_db: str) -> None:
    with reader_user(server, cafe_db) as (user, password):
        event = extractor_event(
            server, cafe_db, date(2026, 11, 27), dbUser=user, dbPassword="wrong"
        )
        with pytest.raises(DatabaseAuthError, match=f"access denied for user '{user}'") as caught:
            lambda_handler(event, None)
        assert password not in str(caught.value)
        assert "wrong" not in str(caught.value)


def test_extractor_reader_user_with_password_works(server: Server, cafe_db: str) -> None:
    with reader_user(server, cafe_db) as (user, password):
        event = extractor_event(
            server, cafe_db, date(2026, 11, 27), dbUser=user, dbPassword=password
        )
        assert lambda_handler(event, None)["statusCode"] == 200


def test_extractor_unknown_database_is_named(server: Server) -> None:
    event = extractor_event(server, "no_such_cafe_db", date(2026, 11, 27))
    with pytest.raises(UnknownDatabaseError, match="'no_such_cafe_db' does not exist"):
        lambda_handler(event, None)


def test_extractor_database_down_fails_fast_with_the_security_group_hint(server: Server) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    event = extractor_event(server, "cafe", date(2026, 11, 27), dbUrl="127.0.0.1", dbPort=port)
    began = time.monotonic()
    with pytest.raises(DatabaseUnreachableError, match=f"127.0.0.1:{port}") as caught:
        lambda_handler(event, None)
    assert "LambdaSG" in str(caught.value)
    assert time.monotonic() - began < 3


def test_extractor_silent_server_times_out_with_our_message(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listener that never speaks: how a half-open network path looks to the client.
    monkeypatch.setattr(extractor_db, "READ_TIMEOUT_S", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        event = extractor_event(server, "cafe", date(2026, 11, 27), dbUrl="127.0.0.1", dbPort=port)
        began = time.monotonic()
        with pytest.raises(DatabaseUnreachableError, match=r"within 1s \(no MySQL handshake"):
            lambda_handler(event, None)
        assert time.monotonic() - began < 5


def test_extractor_missing_schema_names_the_fix_and_closes_the_connection(server: Server) -> None:
    from support.database import throwaway_database

    with throwaway_database(server, seed=False) as empty, reader_user(server, empty) as (u, pw):
        event = extractor_event(server, empty, date(2026, 11, 27), dbUser=u, dbPassword=pw)
        with pytest.raises(QueryError, match=r"doesn't exist.*db/seed\.sql"):
            lambda_handler(event, None)
        assert open_connections(server, u) == 0


def open_connections(server: Server, user: str) -> int:
    admin = server.connect()
    try:
        deadline = time.monotonic() + 2  # the server notices a client's QUIT asynchronously
        while True:
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE user = %s", (user,)
                )
                (count,) = cur.fetchone()
            if count == 0 or time.monotonic() > deadline:
                return int(count)
            time.sleep(0.05)
    finally:
        admin.close()


def test_extractor_many_invocations_leave_no_connection_open(server: Server, cafe_db: str) -> None:
    with reader_user(server, cafe_db) as (user, password):
        event = extractor_event(
            server, cafe_db, date(2026, 11, 27), dbUser=user, dbPassword=password
        )
        threads = [threading.Thread(target=lambda_handler, args=(event, None)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert open_connections(server, user) == 0


def test_the_servers_own_statement_limit_stops_a_slow_query(conn: pymysql.Connection) -> None:
    """MAX_EXECUTION_TIME (MySQL) or max_statement_time (MariaDB), in the server's syntax."""
    from extractor.dialect import STATEMENT_TIMEOUTS, with_time_limit

    slow = "SELECT COUNT(*) FROM order_item a, order_item b, order_item c"  # ~10^10 rows
    began = time.monotonic()
    with pytest.raises(pymysql.MySQLError) as caught, conn.cursor() as cur:
        cur.execute(with_time_limit(slow, conn.get_server_info(), 0.5))
    assert caught.value.args[0] in STATEMENT_TIMEOUTS
    assert time.monotonic() - began < 5
