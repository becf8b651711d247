"""End to end: the reporter under the real runtime client, SSM, SNS and DynamoDB on moto's
server, the extractor under the Runtime-API harness, MariaDB: the path of
tests/integration/test_end_to_end.

Per tree: one fresh pair of processes; the reporter's init (process start to its first poll of
the Runtime API), its first (cold) invocation, then warm invocations, each step's cost from the
functions' own JSON log lines, and both processes' peak RSS. Then the SNS size guard at the top
report size: a day with 10^4 products sold, through the same path, in fresh processes.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.generate import Generated
from bench.images import Runtime
from bench.query import expected_day_rows
from support.aws import Inbox, aws_client, moto_server
from support.database import Server, reader_user
from support.runtime_api import LambdaProcess
from support.ssm import db_settings, put_db_parameters, reporter_env

EXTRACTOR = "extractor.handler.lambda_handler"
REPORTER = "reporter.handler.lambda_handler"
SNS_LIMIT = 262_144
BIG_DAY_PRODUCTS = 10_000
_BIG_FIRST_ID = 1_000_000
_BIG_ORDER = 2_000_000_000


@dataclass
class Stack:
    """moto, an inbox, the SSM parameters: what a reporter needs around it."""

    server: Server
    moto: str
    database: str
    user: str
    password: str
    prefix: str
    inbox: Inbox

    def put_parameters(self) -> None:
        settings = db_settings(self.server, self.database, self.user, self.password)
        put_db_parameters(self.moto, self.prefix, settings)

    def reporter_env(self, extractor_url: str) -> dict[str, str]:
        return reporter_env(self.moto, extractor_url, self.prefix, self.inbox.topic_arn)

    def forget_delivery(self, day: date) -> None:
        """Delete the day's delivery record, so the next run sends the report (not timed)."""
        aws_client("dynamodb", self.moto).delete_item(
            TableName=self.inbox.delivery_table,
            Key={"id": {"S": f"{self.inbox.topic_arn}#{day.isoformat()}"}},
        )


@contextmanager
def stack(server: Server, database: str) -> Iterator[Stack]:
    """moto's server, a topic with a queue, a SELECT-only user with a password, the parameters."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    with (
        moto_server() as moto,
        Inbox.create(moto) as inbox,
        reader_user(server, database) as (user, password),
    ):
        prefix = f"/cafe-bench-{uuid.uuid4().hex[:8]}"
        s = Stack(server, moto, database, user, password, prefix, inbox)
        s.put_parameters()
        yield s


def child_peak_rss_kib(handler: str) -> int | None:
    """VmHWM (peak RSS, KiB) of our child process running `handler`, read from /proc."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = stat[stat.rindex(")") + 2 :].split()[1]
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            if ppid != me or handler not in cmdline:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return None


def _records(output: str) -> list[dict[str, Any]]:
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def _steps_by_invocation(output: str) -> list[dict[str, float]]:
    """Each invocation's {step: ms} in order, from the JSON log lines."""
    order: list[str] = []
    steps: dict[str, dict[str, float]] = {}
    for record in _records(output):
        if "step" in record and "ms" in record:
            rid = record.get("requestId", "")
            if rid not in steps:
                order.append(rid)
                steps[rid] = {}
            steps[rid][record["step"]] = record["ms"]
    return [steps[rid] for rid in order]


def _median_steps(invocations: list[dict[str, float]]) -> dict[str, float]:
    names = {name for inv in invocations for name in inv}
    return {
        name: statistics.median(inv[name] for inv in invocations if name in inv)
        for name in sorted(names)
    }


def _process(handler: str, runtime: Runtime, **kwargs: Any) -> LambdaProcess:
    """The function under the real runtime client, in `runtime` (a /var/task or the venv)."""
    command = runtime.command("-m", "awslambdaric", handler)
    return LambdaProcess(handler, cwd=runtime.cwd, command=command, **kwargs)


def run_tree(
    s: Stack,
    extractor_rt: Runtime,
    reporter_rt: Runtime,
    day: date,
    *,
    times: int,
    duplicates: int = 0,
) -> dict[str, Any]:
    """One fresh extractor + reporter pair: the reporter's init, cold and warm invocations.

    Then, if the reporter keeps a delivery record, `duplicates` more invocations for the same
    day with the record left in place: each is answered "already-sent" from the record.
    """
    event = {"reportDate": day.isoformat()}
    with _process(EXTRACTOR, extractor_rt) as extractor:
        extractor.wait_ready(timeout=30)
        began = time.perf_counter()
        env = s.reporter_env(extractor.endpoint_url)
        with _process(REPORTER, reporter_rt, env=env) as rep:
            rep.wait_ready(timeout=30)
            init_ms = (time.perf_counter() - began) * 1000
            walls, payloads = [], []
            rss_first: dict[str, int | None] = {}
            for _ in range(times + 1):
                # Every invocation takes the full path: check, extract, claim, publish, record.
                s.forget_delivery(day)
                started = time.perf_counter()
                invocation = rep.invoke(event)
                walls.append((time.perf_counter() - started) * 1000)
                if invocation.function_error:
                    raise RuntimeError(f"reporter failed: {invocation.payload}")
                payloads.append(invocation.payload)
                if not rss_first:
                    rss_first = {
                        "reporter": child_peak_rss_kib(REPORTER),
                        "extractor": child_peak_rss_kib(EXTRACTOR),
                    }
            rss_end = {
                "reporter": child_peak_rss_kib(REPORTER),
                "extractor": child_peak_rss_kib(EXTRACTOR),
            }
            dup_walls, dup_payloads = [], []
            if "delivery" in payloads[-1]:  # a reporter without one would just send again
                for _ in range(duplicates):
                    started = time.perf_counter()
                    invocation = rep.invoke(event)
                    dup_walls.append((time.perf_counter() - started) * 1000)
                    if invocation.function_error:
                        raise RuntimeError(f"reporter failed: {invocation.payload}")
                    dup_payloads.append(invocation.payload)
            reporter_steps = _steps_by_invocation(rep.output())
        extractor_steps = _steps_by_invocation(extractor.output())
    full_steps = reporter_steps[: times + 1]
    dup_steps = reporter_steps[times + 1 :]
    return {
        "init_ms": init_ms,
        "cold_invoke_ms": walls[0],
        "warm_invoke": {
            "median_ms": statistics.median(walls[1:]) if times else None,
            "samples_ms": walls[1:],
        },
        "cold_steps_ms": {**full_steps[0], **extractor_steps[0]},
        "warm_steps_ms": {
            **_median_steps(full_steps[1:]),
            **_median_steps(extractor_steps[1:]),
        },
        "duplicate": {
            "median_ms": statistics.median(dup_walls) if dup_walls else None,
            "samples_ms": dup_walls,
            "steps_ms": _median_steps(dup_steps) if dup_steps else {},
        },
        "rss_kib_after_first": rss_first,
        "rss_kib_after_all": rss_end,
        "payloads": payloads,
        "duplicate_payloads": dup_payloads,
    }


def check_published(
    s: Stack, gen: Generated, payloads: list[dict], duplicates: list[dict] | None = None
) -> dict[str, bool]:
    """Every full invocation published once, no duplicate did (each answered "already-sent"
    with the last full one's message id); the report's items are the generator's tallies."""
    envelopes = s.inbox.messages(wait=2)
    while len(envelopes) < len(payloads):
        more = s.inbox.messages(wait=1)
        if not more:
            break
        envelopes += more
    expected = expected_day_rows(gen)
    documents = [json.loads(e["Message"]) for e in envelopes]
    good = [
        [
            (i["product_id"], i["quantity"], i["revenue"])
            for g in doc.get("groups", [])
            for i in g["items"]
        ]
        == [(r["product_id"], r["quantity"], r["revenue"]) for r in expected]
        for doc in documents
    ]
    checks = {
        "one message per invocation": len(envelopes) == len(payloads),
        "published report = generator's tallies": bool(good) and all(good),
    }
    if duplicates:
        first_id = payloads[-1].get("messageId")
        checks["duplicates answered already-sent with the first message id"] = all(
            d.get("delivery") == "already-sent" and d.get("messageId") == first_id
            for d in duplicates
        )
    return checks


def big_day(gen: Generated) -> date:
    """A day before the generated history: holds the 10^4-product order, touches nothing else."""
    return gen.spec.first_day - timedelta(days=1)


@contextmanager
def products_day(server: Server, gen: Generated) -> Iterator[date]:
    """One order on big_day() with BIG_DAY_PRODUCTS new products, removed afterwards."""
    day = big_day(gen)
    conn = server.connect(gen.database, init_command="SET time_zone = '+00:00'")
    ids = range(_BIG_FIRST_ID, _BIG_FIRST_ID + BIG_DAY_PRODUCTS)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO product (id, product_name, price, product_group) VALUES (%s,%s,%s,%s)",
                [(i, f"Tasting flight no. {i:07d}, seasonal", "2.50", 1 + i % 3) for i in ids],
            )
            cur.execute(
                "INSERT INTO `order` (order_number, order_date_time, amount) VALUES (%s, %s, 0)",
                (_BIG_ORDER, f"{day} 12:00:00"),
            )
            cur.executemany(
                "INSERT INTO order_item VALUES (%s, %s, %s, %s, %s)",
                [
                    (_BIG_ORDER, n, i, 1 + n % 4, f"{2.5 * (1 + n % 4):.2f}")
                    for n, i in enumerate(ids, start=1)
                ],
            )
        yield day
    finally:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM order_item WHERE order_number = %s", (_BIG_ORDER,))
            cur.execute("DELETE FROM `order` WHERE order_number = %s", (_BIG_ORDER,))
            cur.execute("DELETE FROM product WHERE id >= %s", (_BIG_FIRST_ID,))
        conn.close()


def run_guard(
    s: Stack, server: Server, gen: Generated, extractor_rt: Runtime, reporter_rt: Runtime
) -> dict[str, Any]:
    """The reporter on a day with 10^4 products: the size guard, and both functions' peak RSS."""
    with products_day(server, gen) as day:
        result = run_tree(s, extractor_rt, reporter_rt, day, times=0)
    [payload] = result["payloads"]
    envelopes = s.inbox.messages(wait=2)
    document = json.loads(envelopes[-1]["Message"]) if envelopes else {}
    quantity = sum(1 + n % 4 for n in range(1, BIG_DAY_PRODUCTS + 1))
    return {
        "payload": payload,
        "rss_kib": result["rss_kib_after_first"],
        "steps_ms": result["cold_steps_ms"],
        "checks": {
            "published, under 256 KiB": bool(envelopes) and payload["bytes"] <= SNS_LIMIT,
            "totals count every product": document.get("totals", {}).get("products")
            == BIG_DAY_PRODUCTS
            and document.get("totals", {}).get("quantity") == quantity,
        },
    }
