"""db/migrations on the real database server: each applies to a lab database and is idempotent."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pymysql
import pytest
from pymysql.constants import CLIENT

from support.database import (
    NOT_PORTABLE_SQL,
    REPO_ROOT,
    Server,
    run_script,
    throwaway_database,
)

MIGRATION_001 = REPO_ROOT / "db" / "migrations" / "001_order_date_time_index.sql"


@pytest.fixture
def seeded(server: Server) -> Iterator[pymysql.Connection]:
    """A multi-statement connection to a fresh database loaded from db/seed.sql."""
    with throwaway_database(server, seed=True) as name:
        conn = server.connect(name, client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            yield conn
        finally:
            conn.close()


@pytest.fixture
def lab_database(seeded: pymysql.Connection) -> pymysql.Connection:
    """The original lab's schema: the seed without the order_date_time index."""
    with seeded.cursor() as cur:
        cur.execute("DROP INDEX idx_order_date_time ON `order`")
    return seeded


def order_indexes(conn: pymysql.Connection) -> list[tuple[str, int, str]]:
    """Return (index name, position, column) for every index of `order` but the primary key."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT index_name, seq_in_index, column_name FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = 'order' "
            "AND index_name <> 'PRIMARY' ORDER BY index_name, seq_in_index"
        )
        return list(cur.fetchall())


def apply_001(conn: pymysql.Connection) -> None:
    run_script(conn, MIGRATION_001.read_text(encoding="utf-8"))


def test_migration_001_creates_the_index_on_a_lab_database(
    lab_database: pymysql.Connection,
) -> None:
    assert order_indexes(lab_database) == []
    apply_001(lab_database)
    assert order_indexes(lab_database) == [("idx_order_date_time", 1, "order_date_time")]


def test_migration_001_run_twice_leaves_one_index(lab_database: pymysql.Connection) -> None:
    apply_001(lab_database)
    apply_001(lab_database)
    assert order_indexes(lab_database) == [("idx_order_date_time", 1, "order_date_time")]


def test_migration_001_is_a_no_op_on_the_seeded_database(seeded: pymysql.Connection) -> None:
    before = order_indexes(seeded)
    apply_001(seeded)
    assert order_indexes(seeded) == before == [("idx_order_date_time", 1, "order_date_time")]


def test_migration_001_keeps_an_existing_index_under_another_name(
    lab_database: pymysql.Connection,
) -> None:
    with lab_database.cursor() as cur:
        cur.execute("CREATE INDEX order_when ON `order` (order_date_time, amount)")
    apply_001(lab_database)
    assert order_indexes(lab_database) == [
        ("order_when", 1, "order_date_time"),
        ("order_when", 2, "amount"),
    ]


def test_migration_001_keeps_the_data(lab_database: pymysql.Connection) -> None:
    query = "SELECT COUNT(*), SUM(amount), MIN(order_date_time), MAX(order_date_time) FROM `order`"
    with lab_database.cursor() as cur:
        cur.execute(query)
        before = cur.fetchone()
    apply_001(lab_database)
    with lab_database.cursor() as cur:
        cur.execute(query)
        assert cur.fetchone() == before


@pytest.mark.parametrize("pattern", NOT_PORTABLE_SQL)
def test_migration_001_avoids_mariadb_only_syntax(pattern: str) -> None:
    code = "\n".join(
        line
        for line in MIGRATION_001.read_text(encoding="utf-8").splitlines()
        if not line.startswith("--")
    )
    assert not re.search(pattern, code, flags=re.IGNORECASE | re.MULTILINE)
