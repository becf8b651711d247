"""End to end: the reporter under the real runtime client, SSM, SNS and DynamoDB on moto's
server, the extractor under the Runtime-API harness, MariaDB: the path of
tests/integration/test_end_to_end.

All trees (the working tree, a baseline commit, ...) run side by side, one invocation of each
per round, so a machine whose load changes during the run slows them alike. Per tree: fresh
reporters for the cold start (init, then the first invocation), a warm reporter whose every
timed invocation takes the full path (the day's delivery record deleted first, untimed), then
duplicates answered "already-sent" from the record; each step's cost from the functions' own
JSON log lines, both processes' peak RSS. Then the SNS size guard at the top report size: a day
with 10^4 products sold, through the same path, in fresh processes.
"""

from __future__ import annotations

import contextlib
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


def child_peak_rss_kib(handler: str, cwd: Path) -> int | None:
    """VmHWM (peak RSS, KiB) of our child process running `handler` in `cwd`, from /proc."""
    me, where = str(os.getpid()), cwd.resolve()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = stat[stat.rindex(")") + 2 :].split()[1]
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            if ppid != me or handler not in cmdline or (proc / "cwd").resolve() != where:
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
    """Each step's median over the invocations that logged it."""
    names = {name for inv in invocations for name in inv}
    return {
        name: statistics.median(inv[name] for inv in invocations if name in inv)
        for name in sorted(names)
    }


def _process(handler: str, runtime: Runtime, **kwargs: Any) -> LambdaProcess:
    """The function under the real runtime client, in `runtime` (a /var/task or the venv)."""
    command = runtime.command("-m", "awslambdaric", handler)
    return LambdaProcess(handler, cwd=runtime.cwd, command=command, **kwargs)


@dataclass(frozen=True)
class Pair:
    """Where one tree's extractor and reporter run."""

    extractor: Runtime
    reporter: Runtime


def run_trees(
    s: Stack,
    pairs: dict[str, Pair],
    day: date,
    *,
    cold: int,
    times: int,
    duplicates: int = 0,
) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """Every tree's reporter and extractor, interleaved (one invocation of each tree per round,
    so a machine busy for a while slows them all alike).

    Per tree: one extractor for the whole run; `cold` fresh reporters, each timed from process
    start to its first poll (init) and through its first invocation; then one reporter that
    takes `times` warm invocations after its first, each with the day's record deleted first
    (the full path: check, extract, claim, publish, record); then, if it keeps a delivery record,
    `duplicates` invocations with the record in place, each answered "already-sent" from it.
    Returns (results by tree, every full invocation's payload, the duplicates' payloads).
    """
    event = {"reportDate": day.isoformat()}
    out: dict[str, dict[str, Any]] = {name: {"cold": []} for name in pairs}
    published: list[dict] = []  # every full invocation's payload, in order
    with contextlib.ExitStack() as stack:
        extractors = {}
        for name, pair in pairs.items():
            extractors[name] = stack.enter_context(_process(EXTRACTOR, pair.extractor))
            extractors[name].wait_ready(timeout=30)

        def full(name: str, reporter: LambdaProcess) -> float:
            s.forget_delivery(day)  # not timed
            started = time.perf_counter()
            invocation = reporter.invoke(event)
            elapsed = (time.perf_counter() - started) * 1000
            if invocation.function_error:
                raise RuntimeError(f"reporter [{name}] failed: {invocation.payload}")
            published.append(invocation.payload)
            return elapsed

        for _ in range(cold):
            for name, pair in pairs.items():
                env = s.reporter_env(extractors[name].endpoint_url)
                began = time.perf_counter()
                with _process(REPORTER, pair.reporter, env=env) as rep:
                    rep.wait_ready(timeout=30)
                    init_ms = (time.perf_counter() - began) * 1000
                    invoke_ms = full(name, rep)
                    out[name]["cold"].append(
                        {
                            "init_ms": init_ms,
                            "invoke_ms": invoke_ms,
                            "steps_ms": _steps_by_invocation(rep.output())[0],
                            "rss_kib": {
                                "reporter": child_peak_rss_kib(REPORTER, pair.reporter.cwd),
                                "extractor": child_peak_rss_kib(EXTRACTOR, pair.extractor.cwd),
                            },
                        }
                    )
        reporters = {}
        for name, pair in pairs.items() if times else ():
            env = s.reporter_env(extractors[name].endpoint_url)
            reporters[name] = stack.enter_context(_process(REPORTER, pair.reporter, env=env))
            reporters[name].wait_ready(timeout=30)
            full(name, reporters[name])  # its first invocation: not a warm one
        keeps_record = [
            name for name, payload in zip(reporters, published[-len(reporters) :], strict=True)
            if "delivery" in payload
        ] if reporters else []  # fmt: skip
        # Each full run deletes the day's record first: the trees keeping one go last in each
        # round, so that the duplicates below find the record of the last run.
        order = [name for name in reporters if name not in keeps_record] + keeps_record
        walls: dict[str, list[float]] = {name: [] for name in pairs}
        for _ in range(times):
            for name in order:
                walls[name].append(full(name, reporters[name]))
        dup_walls: dict[str, list[float]] = {name: [] for name in pairs}
        answered: list[dict] = []
        for _ in range(duplicates):
            for name in keeps_record:
                started = time.perf_counter()
                invocation = reporters[name].invoke(event)
                dup_walls[name].append((time.perf_counter() - started) * 1000)
                if invocation.function_error:
                    raise RuntimeError(f"reporter [{name}] failed: {invocation.payload}")
                answered.append(invocation.payload)
        for name in pairs:
            reporter_steps = _steps_by_invocation(reporters[name].output()) if times else []
            extractor_steps = _steps_by_invocation(extractors[name].output())
            warm_steps = reporter_steps[1 : times + 1]
            dup_steps = reporter_steps[times + 1 :]
            colds = out[name]["cold"]
            out[name] |= {
                "init_ms": _median([c["init_ms"] for c in colds]),
                "cold_invoke_ms": _median([c["invoke_ms"] for c in colds]),
                "init_plus_cold_invoke_ms": _median([c["init_ms"] + c["invoke_ms"] for c in colds]),
                "cold_steps_ms": _median_steps([c["steps_ms"] for c in colds]),
                "warm_invoke": {
                    "median_ms": _median(walls[name]),
                    "samples_ms": walls[name],
                },
                "warm_steps_ms": {
                    **_median_steps(warm_steps),
                    **_median_steps(extractor_steps[-times:] if times else []),
                },
                "duplicate": {
                    "median_ms": _median(dup_walls[name]),
                    "samples_ms": dup_walls[name],
                    "steps_ms": _median_steps(dup_steps),
                },
                # The reporter's peak after its first invocation (median over the fresh ones);
                # the extractor's after its first one (in the first round).
                "rss_kib_after_first": {
                    "reporter": _median([c["rss_kib"]["reporter"] for c in colds]),
                    "extractor": colds[0]["rss_kib"]["extractor"] if colds else None,
                },
                "rss_kib_after_all": {
                    "reporter": child_peak_rss_kib(REPORTER, pairs[name].reporter.cwd)
                    if times
                    else None,
                    "extractor": child_peak_rss_kib(EXTRACTOR, pairs[name].extractor.cwd),
                },
            }
    return out, published, answered


def _median(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def check_published(
    s: Stack, gen: Generated, published: list[dict], duplicates: list[dict]
) -> dict[str, bool]:
    """Every full invocation published once and no duplicate did, each duplicate answered
    "already-sent" with the message id of the last run that recorded the day; the reports'
    items are the generator's tallies."""
    envelopes = s.inbox.messages(wait=2)
    while len(envelopes) < len(published):
        more = s.inbox.messages(wait=1)
        if not more:
            break
        envelopes += more
    envelopes += s.inbox.messages()  # anything a duplicate might have published
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
        "one message per full invocation": len(envelopes) == len(published),
        "published report = generator's tallies": bool(good) and all(good),
    }
    if duplicates:
        recorded = [p["messageId"] for p in published if p.get("delivery") == "sent"]
        checks["duplicates answered already-sent with the recorded message id"] = bool(
            recorded
        ) and all(
            d.get("delivery") == "already-sent" and d.get("messageId") == recorded[-1]
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


def run_guard(s: Stack, server: Server, gen: Generated, pairs: dict[str, Pair]) -> dict[str, Any]:
    """Each tree's reporter on a day with 10^4 products, fresh processes: the size guard, and
    both functions' peak RSS."""
    with products_day(server, gen) as day:
        results, published, _ = run_trees(s, pairs, day, cold=1, times=0)
    envelopes = s.inbox.messages(wait=2)
    while len(envelopes) < len(published):
        more = s.inbox.messages(wait=1)
        if not more:
            break
        envelopes += more
    documents = [json.loads(e["Message"]) for e in envelopes]
    quantity = sum(1 + n % 4 for n in range(1, BIG_DAY_PRODUCTS + 1))
    guards = {}
    for name, payload in zip(pairs, published, strict=True):
        guards[name] = {
            "payload": payload,
            "rss_kib": results[name]["rss_kib_after_first"],
            "steps_ms": results[name]["cold_steps_ms"],
        }
    totals_ok = len(documents) == len(published) and all(
        doc.get("totals", {}).get("products") == BIG_DAY_PRODUCTS
        and doc.get("totals", {}).get("quantity") == quantity
        for doc in documents
    )
    checks = {
        "published, each under 256 KiB": len(envelopes) == len(published)
        and all(p["bytes"] <= SNS_LIMIT for p in published),
        "totals count every product": totals_ok,
    }
    return {"by_tree": guards, "checks": checks}
