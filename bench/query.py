"""The query at scale: ours (date range through idx_order_date_time), ours without the index,
and the lab's original query, on the same data, each checked against the generator's tallies.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pymysql
import pymysql.cursors

from bench.generate import Generated
from bench.stats import Timing, repeat_slow
from extractor.sales import SALES_QUERY, shape_row
from extractor.window import day_bounds_utc
from support.database import MYSQL8_SQL_MODE, Server

# BASELINE, reproduced from the lab guide (reference/original-lab-guide.txt), not product code:
# no date filter (the whole history), CAST(... AS int) (MariaDB only), an incomplete GROUP BY.
LAB_QUERY = (
    "SELECT  c.product_group_number, c.product_group_name, a.product_id, b.product_name, "
    "CAST(sum(a.quantity) AS int) as quantity FROM order_item a, product b, product_group c "
    "WHERE b.id = a.product_id AND c.product_group_number = b.product_group "
    "GROUP BY c.product_group_number, a.product_id"
)
# The lab's GROUP BY fails under ONLY_FULL_GROUP_BY: it runs in a session with MySQL 8's
# default sql_mode minus that one flag. Ours runs under the full MySQL 8 default.
LAB_SQL_MODE = MYSQL8_SQL_MODE.replace("ONLY_FULL_GROUP_BY,", "")
INDEX = "idx_order_date_time"
UTC = ZoneInfo("UTC")


@dataclass
class Variant:
    """One query on one day: its timings (server ms), and whether every answer was right."""

    name: str
    sql: str
    args: tuple | None
    expected: Callable[[list[dict]], bool]
    samples: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    correct: bool = True
    reads: int | None = None  # rows the storage engine read in the last run (Handler_read_*)

    def run(self, conn: pymysql.Connection, overhead: int) -> float:
        before = handler_reads(conn)
        rows, server_ms, wall, cpu = timed(conn, self.sql, self.args)
        self.reads = handler_reads(conn) - before - overhead
        self.correct = self.correct and self.expected(rows)
        self.walls.append(wall)
        if cpu is not None:
            self.cpus.append(cpu)
        return server_ms

    @property
    def cpu(self) -> float | None:
        """Median server CPU time (ms) of the counted runs (the last len(samples) ones)."""
        counted = self.cpus[-len(self.samples) :] if self.samples else self.cpus
        return statistics.median(counted) if counted else None

    @property
    def timing(self) -> Timing:
        return Timing(tuple(self.samples))


@dataclass
class QueryBench:
    """One size's query figures (database time in ms, from the server's own profile)."""

    items: int
    variants: dict[str, Variant]
    lab: Timing
    no_index: Timing
    explain: dict[str, Any]
    analyzed: dict[str, Any]
    reads: dict[str, int | None]
    cpu_ms: dict[str, float | None]
    index_build_s: float
    rows: int
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def ours(self) -> Timing:
        return self.variants["ours"].timing

    @property
    def ours_typical(self) -> Timing:
        return self.variants["ours, typical day"].timing

    @property
    def others(self) -> dict[str, Timing]:
        return {
            name: v.timing
            for name, v in self.variants.items()
            if name not in ("ours", "ours, typical day")
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "variants": {
                name: {
                    **v.timing.as_dict(),
                    "walls_ms": v.walls,
                    "cpu_ms": v.cpus,
                    "reads": v.reads,
                }
                for name, v in self.variants.items()
            },
            "no_index": self.no_index.as_dict(),
            "lab": self.lab.as_dict(),
            "explain": self.explain,
            "analyzed": self.analyzed,
            "reads": self.reads,
            "cpu_ms": self.cpu_ms,
            "index_build_s": self.index_build_s,
            "rows": self.rows,
            "checks": self.checks,
        }


def connect(server: Server, database: str) -> pymysql.Connection:
    """A connection like the extractor's: UTC, DictCursor, MySQL 8's sql_mode, profiling on."""
    conn = server.connect(
        database,
        init_command="SET time_zone = '+00:00'",
        cursorclass=pymysql.cursors.DictCursor,
        charset="utf8mb4",
    )
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = %s", (MYSQL8_SQL_MODE,))
        cur.execute("SET SESSION profiling = 1, profiling_history_size = 1")
    return conn


def timed(
    conn: pymysql.Connection, sql: str, args: Any = None
) -> tuple[list[dict], float, float, float | None]:
    """Run one query; return its rows, the server's duration (ms), the client's wall (ms) and
    the CPU time (ms) the server's thread spent on it (robust to other load on the machine)."""
    with conn.cursor() as cur:
        began = time.perf_counter()
        cur.execute(sql, args)
        rows = cur.fetchall()
        wall = (time.perf_counter() - began) * 1000
        cur.execute("SHOW PROFILES")
        profiles = cur.fetchall()
        cur.execute("SHOW PROFILE CPU")  # the same (latest) statement, stage by stage
        stages = cur.fetchall()
    server = max(profiles, key=lambda p: p["Query_ID"])["Duration"] * 1000 if profiles else wall
    cpu = sum(float(s["CPU_user"] or 0) + float(s["CPU_system"] or 0) for s in stages) * 1000
    return list(rows), float(server), wall, (cpu if stages else None)


def expected_day_rows(gen: Generated, day: date | None = None) -> list[dict[str, Any]]:
    """A tallied day's contract rows from the generator's own tallies (no SQL involved)."""
    rows = []
    for pid, (quantity, cents) in gen.truth.totals[day or gen.truth.day].items():
        name, group, group_name = gen.products[pid]
        rows.append(
            {
                "product_group_number": group,
                "product_group_name": group_name,
                "product_id": pid,
                "product_name": name,
                "quantity": quantity,
                "revenue": f"{cents // 100}.{cents % 100:02d}",
            }
        )
    return sorted(
        rows,
        key=lambda r: (
            r["product_group_number"],
            -r["quantity"],
            r["product_name"],
            r["product_id"],
        ),
    )


def tables_in_plan(plan: Any) -> list[dict[str, Any]]:
    """Every {"table": {...}} node of an EXPLAIN/ANALYZE FORMAT=JSON plan, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(plan, dict):
        for key, value in plan.items():
            if key == "table" and isinstance(value, dict):
                found.append(value)
            found += tables_in_plan(value)
    elif isinstance(plan, list):
        for value in plan:
            found += tables_in_plan(value)
    return found


def order_table_plan(conn: pymysql.Connection, bounds: tuple, *, analyze: bool) -> dict[str, Any]:
    """How the plan reads `order` (alias o): access type, key, estimated and (ANALYZE) read rows."""
    verb = "ANALYZE" if analyze else "EXPLAIN"
    with conn.cursor() as cur:
        cur.execute(f"{verb} FORMAT=JSON {SALES_QUERY}", bounds)
        plan = json.loads(next(iter(cur.fetchone().values())))
    [order] = [t for t in tables_in_plan(plan) if t.get("table_name") == "o"]
    keys = ("access_type", "key", "rows", "r_rows", "r_total_time_ms", "attached_condition")
    summary = {k: order[k] for k in keys if k in order}
    summary["tables"] = [t.get("table_name") for t in tables_in_plan(plan)]
    if analyze:
        summary["query_ms"] = plan.get("query_block", {}).get("r_total_time_ms")
    return summary


def index_present(conn: pymysql.Connection) -> bool:
    with conn.cursor() as cur:
        cur.execute("SHOW INDEX FROM `order` WHERE Key_name = %s", (INDEX,))
        return bool(cur.fetchall())


def handler_reads(conn: pymysql.Connection) -> int:
    """The session's Handler_read_* counters, summed: rows the storage engine has read."""
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Handler_read%'")
        return sum(int(row["Value"]) for row in cur.fetchall())


def _reads_overhead(conn: pymysql.Connection) -> int:
    """What `Variant.run`'s own bookkeeping adds to the counters (measured around DO 0)."""
    before = handler_reads(conn)
    timed(conn, "DO 0")
    return handler_reads(conn) - before


def _matches(expected: list[dict[str, Any]]) -> Callable[[list[dict]], bool]:
    return lambda rows: [shape_row(r) for r in rows] == expected


def run(
    server: Server,
    gen: Generated,
    *,
    times: int = 15,
    slow_times: int = 5,
    budget_s: float = 60.0,
    minimum: int = 3,
    others: dict[str, str] | None = None,
) -> QueryBench:
    """Measure our query, the lab's and ours without the index on `gen`'s database.

    Every answer is checked against the generator's tallies. Our query on the busiest and on a
    typical day, and `others` (name -> another version of SALES_QUERY, e.g. the baseline
    commit's) run interleaved, round after round, so a busy machine slows them alike.
    """
    truth = gen.truth
    bounds = day_bounds_utc(truth.day, UTC)
    expected = expected_day_rows(gen)
    variants = {
        "ours": Variant("ours", SALES_QUERY, bounds, _matches(expected)),
        "ours, typical day": Variant(
            "ours, typical day",
            SALES_QUERY,
            day_bounds_utc(truth.typical_day, UTC),
            _matches(expected_day_rows(gen, truth.typical_day)),
        ),
        **{
            name: Variant(name, sql, bounds, _matches(expected))
            for name, sql in (others or {}).items()
        },
    }
    conn = connect(server, gen.database)
    checks: dict[str, bool] = {}
    try:
        overhead = _reads_overhead(conn)
        for variant in variants.values():  # warm-up: the buffer pool, not counted
            variant.run(conn, overhead)
        began = time.perf_counter()
        for round_ in range(times):
            for variant in variants.values():
                variant.samples.append(variant.run(conn, overhead))
            if round_ + 1 >= minimum and time.perf_counter() - began > budget_s:
                break
        for name, variant in variants.items():
            checks[f"{name} rows = generator's tallies"] = variant.correct
        explain = order_table_plan(conn, bounds, analyze=False)
        checks["EXPLAIN: `order` read by a range on idx_order_date_time"] = (
            explain.get("access_type") == "range" and explain.get("key") == INDEX
        )
        analyzed = order_table_plan(conn, bounds, analyze=True)

        # The lab's query, whole history, relaxed sql_mode for this session only.
        lab = Variant(
            "lab",
            LAB_QUERY,
            None,
            lambda rows: (
                {int(r["product_id"]): int(r["quantity"]) for r in rows} == truth.all_quantity
            ),
        )
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = %s", (LAB_SQL_MODE,))
        try:
            lab_t = repeat_slow(
                lambda: lab.run(conn, overhead),
                times=slow_times,
                budget_s=budget_s,
                minimum=minimum,
            )
        finally:
            with conn.cursor() as cur:
                cur.execute("SET SESSION sql_mode = %s", (MYSQL8_SQL_MODE,))
        checks["lab rows = generator's whole-history tallies"] = lab.correct

        # Ours again, on the same data without the index; then the index is put back.
        slow = Variant("no index", SALES_QUERY, bounds, _matches(expected))
        with conn.cursor() as cur:
            cur.execute(f"ALTER TABLE `order` DROP INDEX {INDEX}")
        try:
            no_index_t = repeat_slow(
                lambda: slow.run(conn, overhead),
                times=slow_times,
                budget_s=budget_s,
                minimum=minimum,
            )
        finally:
            began = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(f"ALTER TABLE `order` ADD INDEX {INDEX} (order_date_time)")
                cur.execute("ANALYZE TABLE `order`")
                cur.fetchall()
            index_build_s = time.perf_counter() - began
        checks["no-index rows = generator's tallies"] = slow.correct
        checks["index restored"] = index_present(conn)
    finally:
        conn.close()
    return QueryBench(
        items=gen.spec.items,
        variants=variants,
        lab=lab_t,
        no_index=no_index_t,
        explain=explain,
        analyzed=analyzed,
        reads={"ours": variants["ours"].reads, "no index": slow.reads, "lab": lab.reads},
        cpu_ms={
            **{name: v.cpu for name, v in variants.items()},
            "lab": statistics.median(lab.cpus) if lab.cpus else None,
            "no index": statistics.median(slow.cpus) if slow.cpus else None,
        },
        index_build_s=index_build_s,
        rows=len(expected),
        checks=checks,
    )
