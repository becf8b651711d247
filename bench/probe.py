"""In-process measurements, run as `python -m bench.probe <what>` in a subprocess.

The bench runs each probe once with the working tree's functions and once with a baseline tree
(the same code at an earlier commit), by choosing the subprocess's working directory: the tree
in the current directory comes first on sys.path. Each probe prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import pstats
import statistics
import sys
import time
from datetime import date
from typing import Any

# cProfile entries worth naming in the extractor's warm-invocation profile: (file end, function).
PROFILE_POINTS = {
    "parse_event": ("extractor/event.py", "parse_event"),
    "pymysql.connect (total)": ("pymysql/connections.py", "connect"),
    "  TCP connect": ("socket.py", "create_connection"),
    "  server greeting": ("pymysql/connections.py", "_get_server_information"),
    "  authentication": ("pymysql/connections.py", "_request_authentication"),
    "  SET NAMES": ("pymysql/connections.py", "set_character_set"),
    "cursor.execute (init_command + query)": ("pymysql/cursors.py", "execute"),
    "shape_row": ("extractor/sales.py", "shape_row"),
    "close": ("pymysql/connections.py", "close"),
}


def format_rows(count: int, groups: int = 3) -> list[dict[str, Any]]:
    """`count` products as the extractor returns them: long names, 1-7 sold, 2.50 each, in the
    contract's order (group, then quantity descending), which the reporter checks."""
    rows = [
        {
            "product_group_number": i % groups + 1,
            "product_group_name": f"Group {i % groups + 1}",
            "product_id": i + 1,
            "product_name": f"Product {i:05d} with a fairly long name"[:40],
            "quantity": 1 + i % 7,
            "revenue": f"{(1 + i % 7) * 2.5:.2f}",
        }
        for i in range(count)
    ]
    return sorted(rows, key=lambda r: (r["product_group_number"], -r["quantity"]))


def probe_format(products: list[int], times: int) -> dict[str, Any]:
    """The reporter's `format` step (build_report + build_message) per product count."""
    from reporter.message import SNS_MAX_BYTES, build_message
    from reporter.report import build_report

    day = date(2026, 11, 26)
    results = []
    for count in products:
        rows = format_rows(count)
        samples, cpu = [], []
        for _ in range(times + 1):  # the first run is a warm-up
            began, began_cpu = time.perf_counter(), time.process_time()
            message = build_message(build_report(day, "UTC", rows))
            samples.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        results.append(
            {
                "products": count,
                "median_ms": statistics.median(samples[1:]),
                "samples_ms": samples[1:],
                "cpu_median_ms": statistics.median(cpu[1:]),
                "bytes": message.size,
                "limit": SNS_MAX_BYTES,
                "detail": message.detail,
                "items_shown": message.items_shown,
                "items_total": message.items_total,
                "text_bytes": len(message.text.encode()),
            }
        )
    return {"format": results}


class _Steps(logging.Handler):
    """Collects the extractor's step records (connect, query) with their ms."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "step"):
            self.steps.append({"step": record.step, "ms": record.ms})


def probe_extractor_warm(event: dict[str, Any], times: int, profiled: int) -> dict[str, Any]:
    """Warm invocations of the extractor's handler in this process, and a profile of them."""
    from extractor.handler import lambda_handler

    collector = _Steps()
    logger = logging.getLogger("extractor")
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    lambda_handler(event, None)  # cold: imports inside PyMySQL, the time zone file, the pool
    collector.steps.clear()
    samples, rows = [], 0
    for _ in range(times):
        began = time.perf_counter()
        result = lambda_handler(event, None)
        samples.append((time.perf_counter() - began) * 1000)
        rows = len(result["body"])
    by_step: dict[str, list[float]] = {}
    for record in collector.steps:
        by_step.setdefault(record["step"], []).append(record["ms"])

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(profiled):
        lambda_handler(event, None)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    profile: dict[str, float] = {}
    for label, (file_end, function) in PROFILE_POINTS.items():
        cumulative = sum(
            entry[3]
            for (filename, _, name), entry in stats.items()
            if name == function and filename.replace("\\", "/").endswith(file_end)
        )
        profile[label] = cumulative * 1000 / profiled
    total = sum(entry[3] for key, entry in stats.items() if key[2] == "lambda_handler")
    profile["lambda_handler (total, profiled)"] = total * 1000 / profiled
    return {
        "median_ms": statistics.median(samples),
        "samples_ms": samples,
        "rows": rows,
        "steps_ms": {step: statistics.median(ms) for step, ms in by_step.items()},
        "profile_ms": profile,
    }


def probe_connect(event: dict[str, Any], times: int) -> dict[str, Any]:
    """Open and close the extractor's connection `times` times; the TLS version it got."""
    from extractor.db import connect
    from extractor.event import parse_event

    request = parse_event(event)
    samples, version = [], None
    for index in range(times + 1):  # the first connection is a warm-up
        began = time.perf_counter()
        with connect(request) as conn, conn.cursor() as cur:
            if index == 0:
                cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
                version = list(cur.fetchone().values())[-1] or "none"
        if index:
            samples.append((time.perf_counter() - began) * 1000)
    return {"median_ms": statistics.median(samples), "samples_ms": samples, "tls": version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe")
    sub = parser.add_subparsers(dest="what", required=True)
    fmt = sub.add_parser("format")
    fmt.add_argument("--products", default="10,1000,10000")
    fmt.add_argument("--repeat", type=int, default=15)
    warm = sub.add_parser("extractor-warm", help="the event JSON comes on stdin")
    warm.add_argument("--repeat", type=int, default=30)
    warm.add_argument("--profiled", type=int, default=30)
    connect = sub.add_parser("connect", help="the event JSON comes on stdin")
    connect.add_argument("--repeat", type=int, default=30)
    idem = sub.add_parser(
        "idempotency", help="ours vs Powertools (bench/idempotency.py); AWS_ENDPOINT_URL_DYNAMODB"
    )
    idem.add_argument("--table", required=True)
    idem.add_argument("--topic-arn", required=True)
    idem.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    if args.what == "idempotency":
        from bench.idempotency import measure

        result = measure(args.table, args.topic_arn, args.repeat)
    elif args.what == "format":
        products = [int(float(x)) for x in args.products.split(",")]
        result = probe_format(products, args.repeat)
    elif args.what == "connect":
        result = probe_connect(json.load(sys.stdin), args.repeat)
    else:
        result = probe_extractor_warm(json.load(sys.stdin), args.repeat, args.profiled)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
