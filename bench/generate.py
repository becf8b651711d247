"""The bench's data generator: a fresh café database with N order items, loaded in bulk.

The schema and the café's own 20 products come from db/seed.sql (the statements before its
orders), so the bench measures the shipped schema, with its idx_order_date_time index. Orders
are generated in Python with a fixed seed, written as tab-separated chunks under bench/out/ and
loaded with LOAD DATA LOCAL INFILE by a second thread while the next chunk is generated.

The generator also tallies, in Python, what the report must say for the bench day and what the
lab's whole-history query must return, so the bench can check both queries' answers against a
computation that shares no SQL with them.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pymysql
from pymysql.constants import CLIENT

from bench import OUT_DIR, REPO_ROOT
from support.database import Server

SEED_SQL = REPO_ROOT / "db" / "seed.sql"
END_DAY = date(2026, 11, 26)  # the last day of trading: the day the query benchmarks report
RNG_SEED = 20261127
THREE_YEARS = 1095
DEFAULT_PRODUCTS = 50
CHUNK_ORDERS = 200_000  # per LOAD DATA statement: a moderate transaction, and a small file

# As db/generate_seed.py: 1-4 items per order, mostly one of each, breakfast and lunch peaks
# (UTC opening hours 07:00-18:59), a weekly closing day, busier weekends.
ITEM_COUNT_WEIGHTS = {1: 45, 2: 33, 3: 15, 4: 7}
QUANTITY_WEIGHTS = {1: 80, 2: 15, 3: 5}
HOUR_WEIGHTS = {7: 7, 8: 11, 9: 8, 10: 4, 11: 5, 12: 10, 13: 8, 14: 3, 15: 3, 16: 3, 17: 2, 18: 1}
WEEKDAY_FACTOR = (1.0, 0.9, 0.8, 0.85, 1.0, 1.35, 0.0)  # by days-before-END_DAY % 7; 6: closed
GROWTH = 0.5  # the first day sells half as much as the last: the café grew over the years


def default_days(items: int) -> int:
    """About 300 items a day for small sizes; three years of trading from 10^6 items up."""
    return min(THREE_YEARS, max(14, round(items / 300)))


@dataclass(frozen=True)
class Spec:
    """What to generate."""

    items: int
    days: int
    products: int = DEFAULT_PRODUCTS
    end: date = END_DAY
    seed: int = RNG_SEED

    @classmethod
    def for_size(cls, items: int, *, days: int | None = None, products: int | None = None) -> Spec:
        return cls(items, days or default_days(items), products or DEFAULT_PRODUCTS)

    @property
    def first_day(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def typical_day(self) -> date:
        """The middle of the history (the day after, if that is the weekly closing day)."""
        day = self.first_day + timedelta(days=self.days // 2)
        closed = WEEKDAY_FACTOR[(self.end - day).days % 7] == 0
        return day + timedelta(days=1) if closed else day


@dataclass
class Truth:
    """What the generator put in, tallied in Python (quantities, cents) per product id."""

    day: date  # the bench day: the last, busiest day (spec.end)
    typical_day: date  # a day in the middle of the history
    # For both days: product id -> [quantity, cents]; and each day's (orders, items).
    totals: dict[date, dict[int, list[int]]] = field(default_factory=dict)
    counts: dict[date, list[int]] = field(default_factory=dict)
    all_quantity: dict[int, int] = field(default_factory=dict)  # id -> quantity, whole history
    orders: int = 0
    items: int = 0

    @property
    def day_totals(self) -> dict[int, list[int]]:
        return self.totals[self.day]

    @property
    def day_orders(self) -> int:
        return self.counts[self.day][0]

    @property
    def day_items(self) -> int:
        return self.counts[self.day][1]


@dataclass
class Generated:
    """A generated database: its name, contents, and how long each phase took (seconds)."""

    database: str
    spec: Spec
    truth: Truth
    products: dict[int, tuple[str, int, str]]  # id -> (name, group number, group name)
    seconds: dict[str, float]


def unique_database(items: int) -> str:
    return f"cafe_bench_{items}_{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def bench_database(
    server: Server, spec: Spec, *, keep: bool = False, log=print
) -> Iterator[Generated]:
    """Create and fill a uniquely named database, yield it, drop it (unless `keep`)."""
    name = unique_database(spec.items)
    admin = server.connect()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield generate(server, name, spec, log=log)
    finally:
        if keep:
            log(f"kept database {name} (--keep): drop it with DROP DATABASE `{name}`")
        else:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def generate(server: Server, database: str, spec: Spec, *, log=print) -> Generated:
    """Load the schema and `spec.items` order items into the (empty) `database`."""
    began = time.perf_counter()
    conn = _connect(server, database)
    try:
        with conn.cursor() as cur:
            _run_script(cur, schema_sql())
            products = _add_products(cur, spec)
        schema_s = time.perf_counter() - began
        work = OUT_DIR / database
        work.mkdir(parents=True, exist_ok=True)
        truth, gen_s, wait_s = _generate_orders(server, database, spec, products, work)
        with conn.cursor() as cur:
            analyzed = time.perf_counter()
            cur.execute("ANALYZE TABLE `order`, order_item, product, product_group")
            cur.fetchall()
            analyze_s = time.perf_counter() - analyzed
        with contextlib.suppress(OSError):
            work.rmdir()
    finally:
        conn.close()
    seconds = {
        "schema": schema_s,
        "python": gen_s,
        "load_wait": wait_s,
        "analyze": analyze_s,
        "total": time.perf_counter() - began,
    }
    log(
        f"generated {database}: {truth.items} items in {truth.orders} orders over {spec.days} "
        f"days, {spec.products} products, in {seconds['total']:.1f} s"
    )
    names = {
        pid: (name, group, group_name) for pid, (_, name, group, group_name) in products.items()
    }
    return Generated(database, spec, truth, names, seconds)


def schema_sql() -> str:
    """db/seed.sql up to its first order: the schema, product groups and the café's products."""
    text = SEED_SQL.read_text(encoding="utf-8")
    cut = text.index("INSERT INTO `order`")
    return text[:cut]


def _connect(server: Server, database: str, **kwargs: object) -> pymysql.Connection:
    return server.connect(
        database,
        client_flag=CLIENT.MULTI_STATEMENTS,
        init_command="SET time_zone = '+00:00'",
        **kwargs,
    )


def _run_script(cur: pymysql.cursors.Cursor, sql: str) -> None:
    cur.execute(sql)
    while cur.nextset():
        pass


def _add_products(cur: pymysql.cursors.Cursor, spec: Spec) -> dict[int, tuple[int, str, int, str]]:
    """Add products past the seed's 20 up to spec.products; return id -> (cents, name, group)."""
    cur.execute("SELECT product_group_number, product_group_name FROM product_group")
    groups = dict(cur.fetchall())
    cur.execute("SELECT MAX(id), COUNT(*) FROM product")
    top, count = cur.fetchone()
    rng = random.Random(spec.seed)
    extra = [
        (
            top + i,
            f"Seasonal special no. {top + i}",
            f"{rng.randrange(150, 900) / 100:.2f}",
            1 + (top + i) % len(groups),
        )
        for i in range(1, max(0, spec.products - count) + 1)
    ]
    if extra:
        cur.executemany(
            "INSERT INTO product (id, product_name, price, product_group) VALUES (%s,%s,%s,%s)",
            extra,
        )
    cur.execute("SELECT id, price, product_name, product_group FROM product ORDER BY id")
    return {
        pid: (int(price * 100), name, group, groups[group])
        for pid, price, name, group in cur.fetchall()[: spec.products]
    }


def _day_weights(spec: Spec, rng: random.Random) -> list[float]:
    weights = []
    for index in range(spec.days):
        back = spec.days - 1 - index  # days before spec.end
        trend = 1 - GROWTH * back / max(1, spec.days - 1)
        weights.append(WEEKDAY_FACTOR[back % 7] * trend * rng.uniform(0.85, 1.15))
    return weights


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` into integer parts proportional to `weights` (largest remainder)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - parts[i], reverse=True)
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _item_counts(items: int, rng: random.Random) -> list[int]:
    """Items per order, 1-4, adding up to exactly `items`."""
    sizes, cum = list(ITEM_COUNT_WEIGHTS), list(itertools.accumulate(ITEM_COUNT_WEIGHTS.values()))
    counts: list[int] = []
    total = 0
    while total < items:
        batch = rng.choices(sizes, cum_weights=cum, k=max(1024, (items - total) // 2))
        for k in batch:
            k = min(k, items - total)
            counts.append(k)
            total += k
            if total == items:
                break
    return counts


def _generate_orders(
    server: Server,
    database: str,
    spec: Spec,
    products: dict[int, tuple[int, str, int, str]],
    work: Path,
) -> tuple[Truth, float, float]:
    """Write and load the orders chunk by chunk; return the truth, python s, load-wait s."""
    rng = random.Random(spec.seed)
    truth = Truth(day=spec.end, typical_day=spec.typical_day)
    for tallied in (truth.day, truth.typical_day):
        truth.totals[tallied], truth.counts[tallied] = {}, [0, 0]
    counts = _item_counts(spec.items, rng)
    per_day = _apportion(len(counts), _day_weights(spec, rng))

    # Product popularity: a Zipf-like curve over a shuffled menu.
    pids = sorted(products)
    rng.shuffle(pids)
    pid_cum = list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(pids))))
    cents = {pid: products[pid][0] for pid in pids}
    hours, hour_cum = list(HOUR_WEIGHTS), list(itertools.accumulate(HOUR_WEIGHTS.values()))
    qtys, qty_cum = list(QUANTITY_WEIGHTS), list(itertools.accumulate(QUANTITY_WEIGHTS.values()))
    clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]

    python_s = wait_s = 0.0
    loader = ThreadPoolExecutor(max_workers=1)
    loader_conn = _connect(server, database, local_infile=True)
    pending: list[Future] = []
    order_lines: list[str] = []
    item_lines: list[str] = []
    number = 0
    chunk = 0
    started = time.perf_counter()
    try:
        with loader_conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        for day_index, n_orders in enumerate(per_day):
            day = spec.first_day + timedelta(days=day_index)
            tally_day = truth.totals.get(day)
            prefix = day.isoformat() + " "
            seconds = sorted(
                h * 3600 + rng.randrange(3600)
                for h in rng.choices(hours, cum_weights=hour_cum, k=n_orders)
            )
            k_day = counts[number : number + n_orders]
            n_items = sum(k_day)
            picks = rng.choices(pids, cum_weights=pid_cum, k=n_items)
            quantities = rng.choices(qtys, cum_weights=qty_cum, k=n_items)
            at = 0
            for second, k in zip(seconds, k_day, strict=True):
                number += 1
                chosen = picks[at : at + k]
                while len(set(chosen)) < k:  # one line per product in an order
                    chosen = rng.choices(pids, cum_weights=pid_cum, k=k)
                total = 0
                for line, (pid, qty) in enumerate(
                    zip(chosen, quantities[at : at + k], strict=True), start=1
                ):
                    amount = cents[pid] * qty
                    total += amount
                    item_lines.append(
                        f"{number}\t{line}\t{pid}\t{qty}\t{amount // 100}.{amount % 100:02d}\n"
                    )
                    truth.all_quantity[pid] = truth.all_quantity.get(pid, 0) + qty
                    if tally_day is not None:
                        tally = tally_day.setdefault(pid, [0, 0])
                        tally[0] += qty
                        tally[1] += amount
                order_lines.append(
                    f"{number}\t{prefix}{clock[second]}\t{total // 100}.{total % 100:02d}\n"
                )
                at += k
            if tally_day is not None:
                truth.counts[day] = [n_orders, n_items]
            if len(order_lines) >= CHUNK_ORDERS or day_index == len(per_day) - 1:
                chunk += 1
                files = _write_chunk(work, chunk, order_lines, item_lines)
                order_lines, item_lines = [], []
                python_s += time.perf_counter() - started
                waited = time.perf_counter()
                # At most one chunk loading while the next is generated: bounded disk use.
                for done in pending:
                    done.result()
                pending = [loader.submit(_load_chunk, loader_conn, *files)]
                wait_s += time.perf_counter() - waited
                started = time.perf_counter()
        waited = time.perf_counter()
        for done in pending:
            done.result()
        wait_s += time.perf_counter() - waited
    finally:
        loader.shutdown(wait=True)
        loader_conn.close()
    truth.orders, truth.items = number, sum(counts)
    return truth, python_s, wait_s


def _write_chunk(
    work: Path, chunk: int, order_lines: list[str], item_lines: list[str]
) -> tuple[Path, Path]:
    orders, items = work / f"orders-{chunk:04d}.tsv", work / f"items-{chunk:04d}.tsv"
    orders.write_text("".join(order_lines), encoding="ascii")
    items.write_text("".join(item_lines), encoding="ascii")
    return orders, items


def _load_chunk(conn: pymysql.Connection, orders: Path, items: Path) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute(
                "LOAD DATA LOCAL INFILE %s INTO TABLE `order` CHARACTER SET ascii"
                " FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"
                " (order_number, order_date_time, amount)",
                (str(orders),),
            )
            cur.execute(
                "LOAD DATA LOCAL INFILE %s INTO TABLE order_item CHARACTER SET ascii"
                " FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"
                " (order_number, order_item_number, product_id, quantity, amount)",
                (str(items),),
            )
    finally:
        orders.unlink(missing_ok=True)
        items.unlink(missing_ok=True)
