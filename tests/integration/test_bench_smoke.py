"""The benchmarks at their smallest size (10^4 order items): they run, and their answers are right.

Never how fast: no figure the bench measures is asserted here (bench/RESULTS.md holds them).
`python -m bench` runs for real, in its quick mode and in the development venv; the database it
generates is then checked here against computations that share no SQL with the bench's query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pymysql
import pytest

from bench.generate import Generated, Spec, bench_database
from bench.probe import probe_format
from bench.query import LAB_QUERY, LAB_SQL_MODE, expected_day_rows, order_table_plan
from extractor.sales import fetch_sales
from extractor.window import day_bounds_utc
from support.database import MYSQL8_SQL_MODE, Server
from support.sales import expected_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
ITEMS = 10_000
UTC = ZoneInfo("UTC")
SECTIONS = {
    "generate",
    "query",
    "extractor",
    "cold start",
    "memory",
    "format",
    "e2e",
    "idempotency",
}


@dataclass(frozen=True)
class SmokeRun:
    """One `python -m bench` run: its exit status, output and results.json."""

    returncode: int
    stdout: str
    stderr: str
    results: dict[str, Any]


@pytest.fixture(scope="module")
def smoke(server: Server, tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    out = tmp_path_factory.mktemp("bench")
    env = {
        **os.environ,
        "TEST_DB_HOST": server.host,
        "TEST_DB_PORT": str(server.port),
        "TEST_DB_USER": server.user,
        "TEST_DB_PASSWORD": server.password,
    }
    command = [sys.executable, "-m", "bench", "--sizes", "1e4", "--quick", "--env", "dev"]
    command += ["--no-baseline", "--out", str(out)]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return SmokeRun(completed.returncode, completed.stdout, completed.stderr, results)


@pytest.fixture(scope="module")
def generated(server: Server) -> Iterator[Generated]:
    """A bench database of 10^4 order items, generated under the suite's server settings."""
    with bench_database(server, Spec.for_size(ITEMS), log=lambda _: None) as gen:
        yield gen


@pytest.fixture
def utc_conn(server: Server, generated: Generated) -> Iterator[pymysql.Connection]:
    conn = server.connect(generated.database, init_command="SET time_zone = '+00:00'")
    try:
        yield conn
    finally:
        conn.close()


def scalar(conn: pymysql.Connection, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_bench_smoke_run_passes_every_check_it_makes(smoke: SmokeRun) -> None:
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    checks = smoke.results["checks"]
    assert checks, "the bench checked nothing"
    assert [name for name, ok in checks.items() if not ok] == []
    assert "query 10^4: ours rows = generator's tallies" in checks
    assert "query 10^4: EXPLAIN: `order` read by a range on idx_order_date_time" in checks
    assert "query 10^4: lab rows = generator's whole-history tallies" in checks
    assert "e2e 10^4: published report = generator's tallies" in checks
    assert "e2e 10^4: duplicates answered already-sent with the recorded message id" in checks
    assert "e2e guard: published, each under 256 KiB" in checks
    # Powertools' idempotency utility and our delivery record made the calls each should.
    assert "idempotency: ours: first delivery = GetItem, UpdateItem, UpdateItem" in checks
    assert "idempotency: Powertools: a duplicate returns the first message id" in checks
    assert f"{len(checks)} checks passed, 0 failed" in smoke.stdout


def test_bench_smoke_run_reports_every_section_with_its_baseline(smoke: SmokeRun) -> None:
    rows = smoke.results["rows"]
    assert {row["section"] for row in rows} >= SECTIONS
    assert all(row["value"] is not None for row in rows), [r for r in rows if r["value"] is None]
    assert all(row["baseline_value"] is not None for row in rows if row["baseline"])
    assert "| section | figure |" in smoke.stdout  # the table is printed
    generation = smoke.results["details"]["generation"][str(ITEMS)]
    assert generation["items"] == ITEMS


def test_bench_generator_makes_the_requested_counts(
    generated: Generated, utc_conn: pymysql.Connection
) -> None:
    spec, truth = generated.spec, generated.truth
    assert scalar(utc_conn, "SELECT COUNT(*) FROM order_item") == ITEMS
    assert scalar(utc_conn, "SELECT COUNT(*) FROM `order`") == truth.orders
    assert scalar(utc_conn, "SELECT COUNT(*) FROM product") == spec.products
    per_order = "SELECT COUNT(*) AS n FROM order_item GROUP BY order_number"
    assert scalar(utc_conn, f"SELECT MIN(n) FROM ({per_order}) AS t") == 1
    assert scalar(utc_conn, f"SELECT MAX(n) FROM ({per_order}) AS t") == 4
    assert scalar(utc_conn, "SELECT DATE(MIN(order_date_time)) FROM `order`") == spec.first_day
    assert scalar(utc_conn, "SELECT DATE(MAX(order_date_time)) FROM `order`") == spec.end
    open_days = sum(1 for back in range(spec.days) if back % 7 != 6)  # weekly closing day
    assert (
        scalar(utc_conn, "SELECT COUNT(DISTINCT DATE(order_date_time)) FROM `order`") == open_days
    )
    orphans = (
        "SELECT COUNT(*) FROM order_item oi LEFT JOIN `order` o"
        " ON o.order_number = oi.order_number WHERE o.order_number IS NULL"
    )
    assert scalar(utc_conn, orphans) == 0


def test_bench_query_rows_equal_an_independent_computation(
    server: Server, generated: Generated, utc_conn: pymysql.Connection
) -> None:
    extractor_conn = server.connect(  # as the extractor's: UTC, rows as dicts
        generated.database,
        init_command="SET time_zone = '+00:00'",
        cursorclass=pymysql.cursors.DictCursor,
    )
    try:
        found = {
            day: fetch_sales(extractor_conn, *day_bounds_utc(day, UTC))
            for day in (generated.truth.day, generated.truth.typical_day)
        }
    finally:
        extractor_conn.close()
    for day, rows in found.items():
        assert rows, f"the generator sold nothing on {day}"
        assert rows == expected_rows(utc_conn, day, UTC)  # every item fetched, summed in Python
        assert rows == expected_day_rows(generated, day)  # the generator's own tallies


def test_bench_explain_finds_the_day_through_the_date_index(
    server: Server, generated: Generated
) -> None:
    conn = server.connect(
        generated.database,
        init_command="SET time_zone = '+00:00'",
        cursorclass=pymysql.cursors.DictCursor,
    )
    try:
        bounds = day_bounds_utc(generated.truth.day, UTC)
        plan = order_table_plan(conn, bounds, analyze=False)
        analyzed = order_table_plan(conn, bounds, analyze=True)
    finally:
        conn.close()
    assert plan["access_type"] == "range"
    assert plan["key"] == "idx_order_date_time"
    assert analyzed["r_rows"] == generated.truth.day_orders  # that day's orders, not the table


def test_bench_lab_query_needs_a_relaxed_sql_mode_and_counts_the_whole_history(
    utc_conn: pymysql.Connection, generated: Generated
) -> None:
    with utc_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = %s", (MYSQL8_SQL_MODE,))
        with pytest.raises(pymysql.err.OperationalError, match="GROUP BY"):
            cur.execute(LAB_QUERY)
        cur.execute("SET SESSION sql_mode = %s", (LAB_SQL_MODE,))
        cur.execute(LAB_QUERY)
        quantities = {int(row[2]): int(row[4]) for row in cur.fetchall()}
    assert quantities == generated.truth.all_quantity
    assert sum(quantities.values()) > ITEMS  # quantities, not lines: some lines sell 2 or 3


def test_bench_format_guard_keeps_the_top_size_under_the_sns_limit() -> None:
    small, top = probe_format([10, 10_000], times=1)["format"]
    assert small["detail"] == "full"
    assert small["items_shown"] == small["items_total"] == 10
    assert top["bytes"] <= top["limit"] == 262_144
    assert top["detail"] == "totals"  # the whole text alone would not fit
    assert 0 < top["items_shown"] < top["items_total"] == 10_000
