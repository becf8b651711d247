"""`python -m bench`: issues 5 and 8's benchmarks in one table, each figure next to its baseline.

    .venv/bin/python -m bench                       # 10^4, 10^5, 10^6, 10^7 order items
    .venv/bin/python -m bench --sizes 1e4 --quick   # a one-minute run
    .venv/bin/python -m bench --sizes 1e4,1e6 --sections e2e,coldstart,idempotency

Databases are created as cafe_bench_<items>_<hex> on the server named by TEST_DB_HOST/PORT/
USER/PASSWORD (default root@127.0.0.1:3306) and dropped afterwards (unless --keep). Only session
variables are changed. Results: the table on stdout, bench/out/results.{json,md}. The exit status
is 1 if any correctness check failed (the numbers themselves never fail the run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench import OUT_DIR, REPO_ROOT, coldstart, e2e, idempotency, query
from bench.coldstart import Runtimes
from bench.generate import Spec, bench_database
from bench.images import (
    POWERTOOLS_REPORTER,
    Runtime,
    dev_runtime,
    powertools_requirement,
    task_dir,
    task_runtime,
    tree_bytes,
)
from bench.stats import CpuMeter
from bench.trees import DEFAULT_BASELINE_REF, git_tree, python_env, sales_query
from support.aws import CREDENTIALS, Inbox, moto_server
from support.database import Server, extractor_event

SECTIONS = ("query", "extractor", "coldstart", "memory", "format", "e2e", "idempotency")
BYTES_PER_ITEM = 200  # table + indexes (~90) + the load chunk files, with room to spare
MB = 1024


@dataclass
class Row:
    """One line of the results table."""

    section: str
    figure: str
    size: str
    value: float | None
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> str:
        if self.value and self.baseline_value:
            return f"{self.baseline_value / self.value:.1f}x"
        return ""


@dataclass
class Results:
    """Everything measured in one run."""

    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.rows.append(Row(*args, **kwargs))

    def check(self, prefix: str, checks: dict[str, bool]) -> None:
        for name, ok in checks.items():
            self.checks[f"{prefix}: {name}"] = bool(ok)


def parse_sizes(text: str) -> list[int]:
    return sorted({int(float(part)) for part in text.split(",") if part.strip()})


def size_label(items: int) -> str:
    exponent = len(str(items)) - 1
    return f"10^{exponent}" if items == 10**exponent else f"{items:,}"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        mem_kib = int(meminfo.read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": __import__("os").cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def server_version(server: Server) -> str:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
            version, pool = cur.fetchone()
    finally:
        conn.close()
    return f"{version} (innodb_buffer_pool_size {int(pool) // 1024 // 1024} MiB)"


def run_probe_module(
    args: list[str], cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """`python -m bench.probe ...` with `cwd`'s functions first on the path (and `env` set)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.probe", *args],
        cwd=cwd,
        env={**python_env(pythonpath=REPO_ROOT), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.probe {args[0]} failed in {cwd}:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


class Runner:
    """Runs the sections in order, size by size, and fills `results`."""

    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.server = Server.from_env()
        self.results = Results()
        self.trees: dict[str, Path] = {"now": REPO_ROOT}
        self.baseline_name: str | None = None
        if opts.baseline_ref:
            sha, path = git_tree(opts.baseline_ref)
            self.baseline_name = f"before ({sha})"
            self.trees[self.baseline_name] = path
        self.sections = set(opts.sections.split(","))
        unknown = self.sections - set(SECTIONS)
        if unknown:
            raise SystemExit(f"unknown section(s) {', '.join(sorted(unknown))}: use {SECTIONS}")
        self._runtimes: Runtimes | None = None
        self._powertools: Runtime | None = None

    @property
    def runtimes(self) -> Runtimes:
        """Where cold start, memory and end to end run: image-like /var/task dirs, or the venv."""
        if self._runtimes is None:
            self._runtimes = self._build_runtimes()
        return self._runtimes

    @property
    def powertools_runtime(self) -> Runtime:
        """The reporter now, with Powertools installed beside it (its pin in requirements-dev)."""
        if self._powertools is None:
            if self.opts.env == "dev":
                self._powertools = dev_runtime("dev venv [now + Powertools]", REPO_ROOT)
            else:
                path = task_dir(
                    "reporter-powertools", POWERTOOLS_REPORTER, REPO_ROOT, compiled=True,
                    log=self.log,
                )  # fmt: skip
                self._powertools = task_runtime("reporter /var/task [now + Powertools]", path)
        return self._powertools

    def _build_runtimes(self) -> Runtimes:
        if self.opts.env == "dev":
            ours = {
                name: dev_runtime(f"dev venv [{name}]", tree) for name, tree in self.trees.items()
            }
            return Runtimes(ours, dict(ours), dev_runtime("dev venv [lab]", REPO_ROOT))
        extractor, reporter = {}, {}
        for index, (name, tree) in enumerate(self.trees.items()):
            for function, found in (("extractor", extractor), ("reporter", reporter)):
                path = task_dir(f"{function}-{index}", function, tree, compiled=True, log=self.log)
                found[name] = task_runtime(f"{function} /var/task [{name}]", path)
        for function, found in (("extractor", extractor), ("reporter", reporter)):
            path = task_dir(f"{function}-src", function, REPO_ROOT, compiled=False, log=self.log)
            found["now, no .pyc"] = task_runtime(f"{function} /var/task [now, no .pyc]", path)
        lab = task_runtime(
            "lab /var/task", task_dir("lab", "lab", None, compiled=True, log=self.log)
        )
        return Runtimes(extractor, reporter, lab)

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def run(self) -> Results:
        sizes = parse_sizes(self.opts.sizes)
        details = self.results.details
        details["machine"] = machine()
        details["server"] = server_version(self.server)
        details["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        details["command"] = " ".join(["python -m bench", *sys.argv[1:]])
        details["trees"] = {name: str(path) for name, path in self.trees.items()}
        details["env"] = self.opts.env
        details["generation"] = {}
        if "format" in self.sections:
            with self.metered("format"):
                self.format_section()
        if "idempotency" in self.sections:
            with self.metered("idempotency"):
                self.idempotency_section()
        for index, items in enumerate(sizes):
            need = items * BYTES_PER_ITEM
            free = shutil.disk_usage(OUT_DIR.parent).free
            if free < need:
                self.log(
                    f"skipping {size_label(items)}: needs ~{need >> 30} GiB, {free >> 30} free"
                )
                details.setdefault("skipped", []).append(items)
                continue
            spec = Spec.for_size(items, days=self.opts.days, products=self.opts.products)
            self.log(f"generating {size_label(items)} order items ({spec.days} days)")
            with bench_database(self.server, spec, keep=self.opts.keep, log=self.log) as gen:
                details["generation"][items] = {
                    "database": gen.database,
                    "orders": gen.truth.orders,
                    "items": gen.truth.items,
                    "days": spec.days,
                    "products": spec.products,
                    "days_tallied": {
                        day.isoformat(): {"orders": n[0], "items": n[1]}
                        for day, n in gen.truth.counts.items()
                    },
                    "seconds": gen.seconds,
                }
                self.results.add(
                    "generate", "generate + load (LOAD DATA LOCAL)", size_label(items),
                    gen.seconds["total"], "s",
                )  # fmt: skip
                label = size_label(items)
                if "query" in self.sections:
                    with self.metered(f"query {label}"):
                        self.query_section(gen)
                if "extractor" in self.sections:
                    with self.metered(f"extractor {label}"):
                        self.extractor_section(gen)
                if "coldstart" in self.sections and index == 0:
                    with self.metered("cold start"):
                        self.coldstart_section(gen)
                last = index == len(sizes) - 1
                if last and "memory" in self.sections:
                    with self.metered(f"memory {label}"):
                        self.memory_section(gen)
                if "e2e" in self.sections:
                    with self.metered(f"e2e {label}"):
                        self.e2e_section(gen, last=last)
        return self.results

    @contextlib.contextmanager
    def metered(self, name: str) -> Iterator[None]:
        """Record how loaded the machine was while a section ran (others share it)."""
        with CpuMeter() as meter:
            yield
        self.results.details.setdefault("load", {})[name] = meter.result

    # Sections -----------------------------------------------------------------------------

    def query_section(self, gen: Any) -> None:
        label = size_label(gen.spec.items)
        self.log(f"query benchmarks at {label}")
        bench = query.run(
            self.server,
            gen,
            times=self.opts.repeat,
            slow_times=self.opts.slow_repeat,
            budget_s=self.opts.budget,
            minimum=self.opts.minimum,
            others={name: sales_query(tree) for name, tree in self.trees.items() if name != "now"},
        )
        self.results.details.setdefault("query", {})[gen.spec.items] = bench.as_dict()
        self.results.check(f"query {label}", bench.checks)
        top = gen.spec.items >= 10_000_000
        ours = bench.ours.median
        self.results.add(
            "query", "daily query, DB time, last (busiest) day", label, ours, "ms",
            "lab query (whole history)", bench.lab.median,
            "< 20 ms and ≥ 100x lab at 10^7" if top else "",
            (ours < 20 and bench.lab.median / ours >= 100) if top else None,
        )  # fmt: skip
        self.results.add(
            "query", "daily query, DB time, last (busiest) day", label, ours, "ms",
            "same query without idx_order_date_time", bench.no_index.median,
        )  # fmt: skip
        for name, timing in bench.others.items():
            self.results.add(
                "query", "daily query, DB time, last (busiest) day", label, ours, "ms",
                f"the query {name}", timing.median,
            )  # fmt: skip
        typical = bench.ours_typical.median
        self.results.add(
            "query", "daily query, DB time, typical (mid-history) day", label, typical, "ms",
            "lab query (whole history)", bench.lab.median,
            "< 20 ms and ≥ 100x lab at 10^7" if top else "",
            (typical < 20 and bench.lab.median / typical >= 100) if top else None,
        )  # fmt: skip
        cpu = bench.cpu_ms
        self.results.add(
            "query", "daily query, DB CPU time, last (busiest) day", label, cpu["ours"], "ms",
            "lab query (whole history)", cpu["lab"],
            "< 20 ms and ≥ 100x lab at 10^7" if top else "",
            (cpu["ours"] < 20 and cpu["lab"] / cpu["ours"] >= 100)
            if top and cpu["ours"] and cpu["lab"] else None,
        )  # fmt: skip
        for name in bench.others:
            self.results.add(
                "query", "daily query, DB CPU time, last (busiest) day", label, cpu["ours"],
                "ms", f"the query {name}", cpu[name],
            )  # fmt: skip
        self.results.add(
            "query", "daily query, DB CPU time, typical day", label, cpu["ours, typical day"],
            "ms", "lab query (whole history)", cpu["lab"],
        )  # fmt: skip
        self.results.add(
            "query", "rows read by the engine (Handler_read_*), busiest day", label,
            bench.reads["ours"], "rows", "same query without idx_order_date_time",
            bench.reads["no index"],
        )  # fmt: skip

    def extractor_section(self, gen: Any) -> None:
        label = size_label(gen.spec.items)
        self.log(f"warm extractor invocations at {label}")
        event = json.dumps(extractor_event(self.server, gen.database, gen.truth.day))
        args = ["extractor-warm", "--repeat", str(self.opts.repeat * 2)]
        args += ["--profiled", str(self.opts.repeat * 2)]
        measured = {name: run_probe_module(args, tree, event) for name, tree in self.trees.items()}
        self.results.details.setdefault("extractor_warm", {})[gen.spec.items] = measured
        now = measured["now"]
        before = measured.get(self.baseline_name) if self.baseline_name else None
        is_target = gen.spec.items == 1_000_000
        self.results.add(
            "extractor", "warm invocation (handler: connect + query + close)", label,
            now["median_ms"], "ms", self.baseline_name or "",
            before["median_ms"] if before else None,
            "< 30 ms at 10^6" if is_target else "",
            now["median_ms"] < 30 if is_target else None,
        )  # fmt: skip
        self.results.check(f"extractor {label}", {"rows returned": now["rows"] > 0})
        if self.opts.tls_server and "tls_connect" not in self.results.details:
            self.tls_connect()

    def tls_connect(self) -> None:
        """Connect + close on a TLS-enabled server: what a warm invocation pays per connection."""
        host, _, port = self.opts.tls_server.rpartition(":")
        self.log(f"connect + close over TLS to {host}:{port}")
        event = {
            **extractor_event(self.server, "mysql", date(2026, 11, 26)),
            "dbUrl": host,
            "dbPort": int(port),
        }
        args = ["connect", "--repeat", str(self.opts.repeat * 2)]
        measured = {
            name: run_probe_module(args, tree, json.dumps(event))
            for name, tree in self.trees.items()
        }
        self.results.details["tls_connect"] = measured
        now = measured["now"]
        before = measured.get(self.baseline_name) if self.baseline_name else None
        self.results.add(
            "extractor", f"connect + close, server with TLS ({now['tls']})", "-",
            now["median_ms"], "ms", self.baseline_name or "",
            before["median_ms"] if before else None,
        )  # fmt: skip
        self.results.check("tls", {"connection negotiated TLS": now["tls"].startswith("TLS")})

    def coldstart_section(self, gen: Any) -> None:
        self.log("cold start: fresh interpreters")
        rt = self.runtimes
        probes = coldstart.import_probes(rt)
        event = extractor_event(self.server, gen.database, gen.truth.day)
        for name, runtime in rt.extractor.items():
            probes.append(
                coldstart.extractor_first_invoke(
                    f"extractor_first@{name}",
                    f"extractor import + first invocation [{name}]",
                    event,
                    runtime,
                )
            )
        probes.append(
            coldstart.lab_extractor_first_invoke(
                "lab_extractor_first",
                "lab extractor: imports + its query (relaxed sql_mode)",
                event,
                rt.lab,
            )
        )
        measured = coldstart.run_probes(probes, self.opts.process_repeat, warmup=self.opts.warmup)
        self.results.details["coldstart"] = measured
        self.results.details["coldstart_db"] = size_label(gen.spec.items)
        before, nopyc = self.baseline_name, "now, no .pyc"

        def ms(key: str, field_name: str = "import_ms") -> float | None:
            return measured[key][field_name] if key in measured else None

        def add(figure: str, key: str, baseline: str, base_key: str, **kw: Any) -> None:
            if key not in measured or base_key not in measured:
                return
            field_name = kw.pop("field", "import_ms")
            self.results.add(
                "cold start", figure, kw.pop("size", "-"), ms(key, field_name),
                kw.pop("unit", "ms"), baseline, ms(base_key, field_name), **kw,
            )  # fmt: skip

        lab, ours = ms("lab_extractor"), ms("extractor@now")
        add(
            "extractor import",
            "extractor@now",
            "lab extractor's imports",
            "lab_extractor",
            target="≥ 3x faster than lab",
            met=bool(ours and lab and lab / ours >= 3),
        )
        add("extractor import", "extractor@now", "import pymysql alone (floor)", "pymysql")
        add("extractor import", "extractor@now", str(before), f"extractor@{before}")
        cpu = "import_cpu_ms"
        lab_cpu, ours_cpu = ms("lab_extractor", cpu), ms("extractor@now", cpu)
        add(
            "extractor import (CPU time)",
            "extractor@now",
            "lab extractor's imports",
            "lab_extractor",
            field=cpu,
            target="≥ 3x faster than lab",
            met=bool(ours_cpu and lab_cpu and lab_cpu / ours_cpu >= 3),
        )
        add("extractor import (CPU time)", "extractor@now", "pymysql (floor)", "pymysql", field=cpu)
        size = size_label(gen.spec.items)
        add(
            "extractor import + first invocation",
            "extractor_first@now",
            "lab: imports + its query",
            "lab_extractor_first",
            field="import_plus_invoke_ms",
            size=size,
        )
        add(
            "extractor import + first invocation",
            "extractor_first@now",
            str(before),
            f"extractor_first@{before}",
            field="import_plus_invoke_ms",
            size=size,
        )
        add(
            "reporter import",
            "reporter@now",
            "import boto3 alone (floor)",
            "boto3",
            target="as low as boto3 allows",
        )
        add("reporter import (CPU time)", "reporter@now", "boto3 (floor)", "boto3", field=cpu)
        add("reporter import", "reporter@now", "lab reporter's imports", "lab_reporter")
        add("reporter import", "reporter@now", str(before), f"reporter@{before}")
        add(
            "what the reporter adds on top of boto3",
            "reporter_over_boto3@now",
            str(before),
            f"reporter_over_boto3@{before}",
        )
        add(
            "what the reporter adds on top of boto3 (CPU time)",
            "reporter_over_boto3@now",
            str(before),
            f"reporter_over_boto3@{before}",
            field=cpu,
        )
        add(
            "what delivery.py + deadline.py add (imported after boto3 and reporter.errors)",
            "delivery_over_boto3@now",
            "what the whole reporter adds on top of boto3",
            "reporter_over_boto3@now",
        )
        add(
            "the DynamoDB client, created after the reporter's other three",
            "client_dynamodb",
            "the SNS client, after SSM's and Lambda's (the last one before issue 8)",
            "client_sns",
        )
        for probe in ("client_dynamodb", "client_sns"):
            if probe in measured:
                measured[probe]["rss_mib"] = measured[probe]["rss_kib"] / MB
        add(
            "peak RSS, reporter imported with its 4 clients (SSM, Lambda, SNS, DynamoDB)",
            "client_dynamodb",
            "with 3 (SSM, Lambda, SNS)",
            "client_sns",
            field="rss_mib",
            unit="MiB",
        )
        add(
            "extractor import, no .pyc in /var/task",
            f"extractor@{nopyc}",
            "with .pyc",
            "extractor@now",
        )
        add(
            "reporter import, no .pyc in /var/task",
            f"reporter@{nopyc}",
            "with .pyc",
            "reporter@now",
        )
        add("import boto3, no .pyc", "boto3@no-pyc", "with .pyc", "boto3")
        add("import pymysql, no .pyc", "pymysql@no-pyc", "with .pyc", "pymysql")
        if "runtime" in measured:
            self.results.add(
                "cold start", "awslambdaric.bootstrap import (runtime client, both)", "-",
                ms("runtime"), "ms",
            )  # fmt: skip

    def memory_section(self, gen: Any) -> None:
        label = size_label(gen.spec.items)
        self.log(f"memory: the extractor in fresh processes at {label}")
        rt = self.runtimes
        times = max(1, self.opts.process_repeat // 3)
        event = extractor_event(self.server, gen.database, gen.truth.day)
        probes = [
            coldstart.extractor_first_invoke("extractor", "extractor", event, rt.extractor["now"]),
            coldstart.import_probe(
                "lab", "lab extractor's imports", coldstart.LAB_EXTRACTOR_IMPORTS, rt.lab
            ),
            coldstart.import_probe("bare", "bare interpreter", "pass", rt.extractor["now"]),
        ]
        measured = {p.key: coldstart.run_probe(p, times, warmup=self.opts.warmup) for p in probes}
        with e2e.products_day(self.server, gen) as day:
            big = coldstart.extractor_first_invoke(
                "extractor_big", "extractor, 10^4 products", {**event, "reportDate": str(day)},
                rt.extractor["now"],
            )  # fmt: skip
            measured["extractor_big"] = coldstart.run_probe(big, times, warmup=self.opts.warmup)
        self.results.details["memory"] = measured

        def mib(key: str) -> float:
            return measured[key]["rss_kib"] / MB

        self.results.add(
            "memory", "extractor peak RSS, fresh process, one invocation", label,
            mib("extractor"), "MiB", "lab extractor's imports alone", mib("lab"),
            "< 64 MiB", mib("extractor") < 64,
        )  # fmt: skip
        self.results.add(
            "memory", "extractor peak RSS, fresh process, day with 10^4 products", label,
            mib("extractor_big"), "MiB", "bare interpreter", mib("bare"),
            "< 64 MiB", mib("extractor_big") < 64,
        )  # fmt: skip
        self.results.check(
            f"memory {label}",
            {"10^4-product day returned every product":
             measured["extractor_big"]["rows"] == e2e.BIG_DAY_PRODUCTS},
        )  # fmt: skip

    def format_section(self) -> None:
        self.log("report formatting")
        args = ["format", "--products", "10,1000,10000", "--repeat", str(self.opts.repeat)]
        measured = {name: run_probe_module(args, tree) for name, tree in self.trees.items()}
        self.results.details["format"] = measured
        before = measured.get(self.baseline_name, {}).get("format") if self.baseline_name else None
        for index, now in enumerate(measured["now"]["format"]):
            top = now["products"] == 10_000
            base = before[index]["median_ms"] if before else None
            self.results.add(
                "format", f"build_report + build_message ({now['detail']}, {now['bytes']} B)",
                f"{now['products']} products", now["median_ms"], "ms",
                self.baseline_name or "", base,
                "< 50 ms, never over 256 KiB" if top else "",
                (now["median_ms"] < 50 and now["bytes"] <= now["limit"]) if top else None,
            )  # fmt: skip
            if top:
                self.results.add(
                    "format", "build_report + build_message (CPU time)",
                    f"{now['products']} products", now["cpu_median_ms"], "ms",
                    self.baseline_name or "", before[index]["cpu_median_ms"] if before else None,
                    "< 50 ms", now["cpu_median_ms"] < 50,
                )  # fmt: skip
            self.results.check(
                f"format {now['products']}",
                {"message within 256 KiB": now["bytes"] <= now["limit"]},
            )

    def e2e_section(self, gen: Any, *, last: bool) -> None:
        """The whole reporter per tree; at the last size also the guard and peak memory."""
        label = size_label(gen.spec.items)
        self.log(f"end to end at {label}: harness + moto + MariaDB")
        rt = self.runtimes
        times = self.opts.e2e_repeat
        pairs = {name: e2e.Pair(rt.extractor[name], rt.reporter[name]) for name in rt.reporter}
        cold = max(1, self.opts.process_repeat // 2)
        with e2e.stack(self.server, gen.database) as s:
            details, published, duplicates = e2e.run_trees(
                s, pairs, gen.truth.day, cold=cold, times=times, duplicates=times
            )
            self.results.check(f"e2e {label}", e2e.check_published(s, gen, published, duplicates))
            guards = {}
            if last:
                self.log("end to end: the size guard on a day with 10^4 products")
                guard = e2e.run_guard(s, self.server, gen, pairs)
                self.results.check("e2e guard", guard["checks"])
                guards = guard["by_tree"]
        self.results.details.setdefault("e2e", {})[label] = details
        now = details["now"]
        before = self.baseline_name if self.baseline_name in details else None
        warm = now["warm_invoke"]["median_ms"]
        full_path = "warm reporter invocation, full path (check, SSM, invoke, format, claim, "
        full_path += "publish, record)"
        for name, other in details.items():
            if name == "now":
                continue
            baseline = f"{name}: no delivery record" if name == before else name
            self.results.add(
                "e2e", full_path, label, warm, "ms", baseline, other["warm_invoke"]["median_ms"]
            )  # fmt: skip
            self.results.add(
                "cold start", "reporter init + first invocation (runtime client)", label,
                now["init_plus_cold_invoke_ms"], "ms", baseline,
                other["init_plus_cold_invoke_ms"],
            )  # fmt: skip
        steps = now["warm_steps_ms"]
        record_steps = [steps[k] for k in ("check", "claim", "record") if k in steps]
        if len(record_steps) == 3:
            self.results.add(
                "e2e", "the delivery record's steps, warm (check + claim + record)", label,
                sum(record_steps), "ms", "the whole warm invocation", warm,
            )  # fmt: skip
        duplicate = now["duplicate"]["median_ms"]
        if duplicate is not None:
            figure = "duplicate invocation, answered already-sent (one GetItem)"
            self.results.add(
                "e2e", figure, label, duplicate, "ms", "a full warm invocation (now)", warm
            )  # fmt: skip
            if before:
                self.results.add(
                    "e2e", figure, label, duplicate, "ms",
                    f"{before}: a duplicate is a full run (and a second email)",
                    details[before]["warm_invoke"]["median_ms"],
                )  # fmt: skip
        self.results.add(
            "e2e", "warm reporter invocation", label, warm, "ms",
            "its cold (first) invocation", now["cold_invoke_ms"],
        )  # fmt: skip
        if last:
            self._e2e_memory(label, details, guards, before)

    def _e2e_memory(
        self, label: str, details: dict[str, Any], guards: dict[str, Any], before: str | None
    ) -> None:
        """Peak RSS under the runtime client, and the SNS size guard through the real path."""
        now, guard = details["now"], guards["now"]
        self.results.details["e2e_guard"] = guards

        def mib(kib: int | None) -> float | None:
            return kib / MB if kib else None

        for function in ("reporter", "extractor"):
            rss = mib(now["rss_kib_after_first"][function])
            self.results.add(
                "memory", f"{function} peak RSS under awslambdaric, first invocation", label,
                rss, "MiB", before or "",
                mib(details[before]["rss_kib_after_first"][function]) if before else None,
                "< 64 MiB", rss < 64 if rss else None,
            )  # fmt: skip
            big = mib(guard["rss_kib"][function])
            self.results.add(
                "memory", f"{function} peak RSS under awslambdaric, 10^4 products", label,
                big, "MiB", before or "",
                mib(guards[before]["rss_kib"][function]) if before else None,
                "< 64 MiB", big < 64 if big else None,
            )  # fmt: skip
        payload = guard["payload"]
        self.results.add(
            "format", f"guard via the real path: detail={payload['detail']}, "
            f"{payload['itemsShown']}/{payload['products']} items shown",
            "10^4 products", payload["bytes"] / 1024, "KiB", "SNS limit", 256.0,
            "never an SNS size error", payload["bytes"] <= e2e.SNS_LIMIT,
        )  # fmt: skip

    def idempotency_section(self) -> None:
        """Powertools' idempotency utility vs reporter/delivery.py: cold, warm, image size."""
        self.log("idempotency: ours vs Powertools, fresh interpreters")
        ours, powertools = self.runtimes.reporter["now"], self.powertools_runtime
        cold = coldstart.run_probes(
            idempotency.cold_probes(ours, powertools),
            self.opts.process_repeat,
            warmup=self.opts.warmup,
        )
        self.log("idempotency: ours vs Powertools, warm, against moto's server")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with moto_server() as moto, Inbox.create(moto) as inbox:
            args = ["idempotency", "--table", inbox.delivery_table]
            args += ["--topic-arn", inbox.topic_arn, "--repeat", str(self.opts.repeat * 2)]
            env = {**CREDENTIALS, "AWS_ENDPOINT_URL_DYNAMODB": moto}
            warm = run_probe_module(args, REPO_ROOT, env=env)
        pin = powertools_requirement()
        details: dict[str, Any] = {"pin": pin, "cold": cold, "warm": warm}
        if self.opts.env == "image":
            details["task_bytes"] = {
                "reporter": tree_bytes(ours.cwd),
                "reporter + Powertools": tree_bytes(powertools.cwd),
            }
        self.results.details["idempotency"] = details
        pt = pin.replace("aws-lambda-powertools==", "Powertools ")

        def add(figure: str, value: float, baseline: str, base: float, unit: str = "ms") -> None:
            self.results.add("idempotency", figure, "-", value, unit, baseline, base)

        for field_name, what in (("import_ms", ""), ("import_cpu_ms", " (CPU time)")):
            add(f"import reporter.delivery after boto3{what}", cold["idem_ours"][field_name],
                f"{pt} idempotency after boto3", cold["idem_powertools"][field_name])  # fmt: skip
        add(
            f"{pt} idempotency imported after reporter.handler (what adopting it adds)",
            cold["idem_powertools_over_reporter"]["import_ms"],
            "import boto3 (the floor both stand on)", cold["idem_boto3"]["import_ms"],
        )  # fmt: skip
        add("peak RSS: boto3 + reporter.delivery", cold["idem_ours"]["rss_kib"] / MB,
            f"boto3 + {pt} idempotency", cold["idem_powertools"]["rss_kib"] / MB,
            "MiB")  # fmt: skip
        o, p = warm["ours"], warm["powertools"]
        for field_name, what in (("median_ms", ""), ("cpu_median_ms", ", client CPU time")):
            add(f"warm, first delivery of a day: ours, check + claim + record (3 requests){what}",
                o[f"first_{field_name}"],
                f"{pt}: in-progress PutItem + completion UpdateItem (2 requests)",
                p[f"first_{field_name}"])  # fmt: skip
            add(f"warm, duplicate: ours, one consistent GetItem{what}",
                o[f"duplicate_{field_name}"],
                f"{pt}: conditional PutItem fails, stored result returned",
                p[f"duplicate_{field_name}"])  # fmt: skip
        if "task_bytes" in details:
            sizes = details["task_bytes"]
            add("reporter's /var/task now (with .pyc)", sizes["reporter"] / 2**20,
                f"the same with {pt}", sizes["reporter + Powertools"] / 2**20, "MiB")  # fmt: skip
        expected = {
            "ours: first delivery = GetItem, UpdateItem, UpdateItem":
                o["first_requests"] == [list(idempotency.OURS_FIRST)],
            "ours: duplicate = GetItem":
                o["duplicate_requests"] == [list(idempotency.OURS_DUPLICATE)],
            "Powertools: first delivery = PutItem, UpdateItem":
                p["first_requests"] == [list(idempotency.POWERTOOLS_FIRST)],
            "Powertools: duplicate = PutItem":
                p["duplicate_requests"] == [list(idempotency.POWERTOOLS_DUPLICATE)],
            "ours: a duplicate returns the first message id": o["duplicate_returned_first_id"],
            "Powertools: a duplicate returns the first message id":
                p["duplicate_returned_first_id"],
            "Powertools: a run overlapping one in progress fails (AlreadyInProgress)":
                warm["powertools_overlap"] == "IdempotencyAlreadyInProgressError",
        }  # fmt: skip
        self.results.check("idempotency", expected)


# Output ---------------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(results: Results) -> str:
    """The results as a Markdown table (also readable as plain text)."""
    head = "| section | figure | size | value | baseline (same run) | baseline value | ratio |"
    head += " target | met |"
    lines = [head, "|" + "---|" * 9]
    for row in results.rows:
        met = "" if row.met is None else ("yes" if row.met else "**NO**")
        lines.append(
            f"| {row.section} | {row.figure} | {row.size} | {_fmt(row.value, row.unit)} "
            f"| {row.baseline} | {_fmt(row.baseline_value, row.unit) if row.baseline else ''} "
            f"| {row.ratio if row.baseline else ''} | {row.target} | {met} |"
        )
    return "\n".join(lines)


def idempotency_table(results: Results) -> str:
    """Each DynamoDB request of ours and Powertools' paths, median ms (moto, over HTTP)."""
    warm = results.details.get("idempotency", {}).get("warm")
    if not warm:
        return ""
    lines = ["| path | requests, median ms each | whole, median ms | client CPU, ms |",
             "|---|---|---|---|"]  # fmt: skip
    for name in ("ours", "powertools"):
        for kind in ("first", "duplicate"):
            measured = warm[name]
            each = ", ".join(f"{op} {_fmt(ms)}" for op, ms in measured[f"{kind}_request_ms"])
            lines.append(
                f"| {name}, {kind} | {each} | {_fmt(measured[f'{kind}_median_ms'])} "
                f"| {_fmt(measured[f'{kind}_cpu_median_ms'])} |"
            )
    return "\n".join(lines)


def load_table(results: Results) -> str:
    """How busy the machine was during each section: timings on a shared VM need this."""
    lines = [
        "| section | CPU busy % | CPU stolen % | load avg (1 min) | speed (ms, lower = faster) |",
        "|---|---|---|---|---|",
    ]
    for name, load in results.details.get("load", {}).items():
        if load:
            lines.append(
                f"| {name} | {load['busy_pct']:.0f} | {load['steal_pct']:.0f} "
                f"| {load['loadavg_1min']:.2f} | {load['speed_ms']:.1f} |"
            )
    return "\n".join(lines)


def step_table(results: Results) -> str:
    """The end-to-end steps (medians, ms) per tree, and the extractor's warm profile."""
    lines: list[str] = []
    for label, e2e_details in results.details.get("e2e", {}).items():
        # (column, its steps, the whole invocation's median ms, the reporter's init ms)
        columns: list[tuple[str, dict[str, float], float | None, float | None]] = []
        for tree, found in e2e_details.items():
            columns.append((tree, found["warm_steps_ms"], found["warm_invoke"]["median_ms"], None))
        for tree, found in e2e_details.items():
            columns.append(
                (f"{tree}, cold", found["cold_steps_ms"], found["cold_invoke_ms"], found["init_ms"])
            )
        for tree, found in e2e_details.items():
            if found["duplicate"]["median_ms"] is not None:
                duplicate = found["duplicate"]
                columns.append(
                    (f"{tree}, duplicate", duplicate["steps_ms"], duplicate["median_ms"], None)
                )
        names = sorted({step for _, steps, _, _ in columns for step in steps})
        lines += [
            f"| step at {label} (median ms) | " + " | ".join(c[0] for c in columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        for step in names:
            cells = [_fmt(steps[step]) if step in steps else "" for _, steps, _, _ in columns]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        cells = [_fmt(whole) for _, _, whole, _ in columns]
        lines.append("| whole invocation, as the caller saw it | " + " | ".join(cells) + " |")
        cells = [_fmt(init) if init is not None else "" for _, _, _, init in columns]
        lines.append("| init: process start to first poll | " + " | ".join(cells) + " |")
        lines.append("")
    warm = results.details.get("extractor_warm", {})
    if warm:
        items = max(warm, key=int)
        profile = warm[items]["now"]["profile_ms"]
        title = f"extractor warm profile at {size_label(int(items))} (cProfile, ms/invocation)"
        lines += [f"| {title} | ms |", "|---|---|"]
        lines += [f"| {name} | {_fmt(ms)} |" for name, ms in profile.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="1e4,1e5,1e6,1e7", help="order items per database")
    parser.add_argument("--days", type=int, help="days of trading (default: by size, ≤ 3 years)")
    parser.add_argument("--products", type=int, help="products on the menu (default 50)")
    parser.add_argument("--repeat", type=int, default=15, help="runs of fast measurements")
    parser.add_argument("--slow-repeat", type=int, default=5, help="runs of the slow baselines")
    parser.add_argument("--process-repeat", type=int, default=10, help="fresh processes each")
    parser.add_argument("--e2e-repeat", type=int, default=10, help="warm reporter invocations")
    parser.add_argument("--minimum", type=int, default=3, help="runs even past --budget")
    parser.add_argument("--budget", type=float, default=60, help="seconds per slow measurement")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="a subset of: %(default)s")
    parser.add_argument(
        "--baseline-ref",
        default=DEFAULT_BASELINE_REF,
        help="git commit whose functions are the 'before' (default %(default)s)",
    )
    parser.add_argument("--no-baseline", dest="baseline_ref", action="store_const", const=None)
    parser.add_argument(
        "--env",
        choices=("image", "dev"),
        default="image",
        help="cold start, memory and e2e in image-like /var/task dirs built with "
        "pip (default), or in the development venv",
    )
    parser.add_argument(
        "--tls-server",
        metavar="HOST:PORT",
        help="also time connect + close against this TLS-enabled server "
        "(same user and password as the database server)",
    )
    parser.add_argument("--quick", action="store_true", help="few repetitions: checks, not numbers")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where results.{json,md} go")
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.repeat, opts.slow_repeat, opts.process_repeat = 2, 1, 1
        opts.e2e_repeat, opts.minimum = 1, 1
    opts.warmup = 0 if opts.quick else 1
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    results = Runner(opts).run()
    results.details["runtime_s"] = time.perf_counter() - began
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "results.json").write_text(
        json.dumps({"rows": [r.__dict__ for r in results.rows], "checks": results.checks,
                    "details": results.details}, indent=1, default=str)
    )  # fmt: skip
    parts = (table(results), step_table(results), idempotency_table(results), load_table(results))
    text = "\n\n".join(part for part in parts if part) + "\n"
    (opts.out / "results.md").write_text(text)
    print(text)
    failed = [name for name, ok in results.checks.items() if not ok]
    for name, ok in results.checks.items():
        print(f"check {'ok    ' if ok else 'FAILED'} {name}")
    print(f"{len(results.checks) - len(failed)} checks passed, {len(failed)} failed;"
          f" {results.details['runtime_s']:.0f} s")  # fmt: skip
    return 1 if failed else 0
