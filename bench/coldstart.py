"""Cold start and memory: fresh interpreters that import a handler module (and invoke it once).

Each figure is the median over fresh processes of the time measured inside the process around
the import (so the interpreter's own start-up, the same for all, is left out), and the process's
peak RSS (ru_maxrss, KiB on Linux). A warm-up process runs first so .pyc files exist, as they do
in an image that compiled its code; one row shows the cost when they do not.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass
from typing import Any

from bench.images import Runtime
from bench.query import LAB_QUERY, LAB_SQL_MODE

# Peak RSS: VmHWM of this process's own memory map. Not ru_maxrss: Linux carries the parent's
# high-water mark over fork+exec into it, so a child of a big parent reports the parent's.
_PEAK_RSS = """
def _peak_rss_kib():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

# `pre` runs untimed first (e.g. an import that is already paid for), `timed` is measured.
_IMPORT = """\
import sys, time
{pre}
_c0, _t0 = time.process_time(), time.perf_counter()
{timed}
_t1, _c1 = time.perf_counter(), time.process_time()
sys.stdout.write('{{"import_ms": %r, "import_cpu_ms": %r, "rss_kib": %d}}' % (
    (_t1 - _t0) * 1000, (_c1 - _c0) * 1000, _peak_rss_kib()))
"""

# Import plus the first invocation, in one fresh process: what a cold start costs the caller.
# The event arrives on stdin and is parsed before the clock starts (the runtime does that).
_FIRST_INVOKE = """\
import sys, time, json
_event = json.loads(sys.stdin.read())
_c0, _t0 = time.process_time(), time.perf_counter()
{imports}
_c1, _t1 = time.process_time(), time.perf_counter()
_result = {invoke}
_t2, _c2 = time.perf_counter(), time.process_time()
sys.stdout.write(json.dumps({{"import_ms": (_t1 - _t0) * 1000, "invoke_ms": (_t2 - _t1) * 1000,
    "import_cpu_ms": (_c1 - _c0) * 1000, "invoke_cpu_ms": (_c2 - _c1) * 1000,
    "rss_kib": _peak_rss_kib(), "rows": _rows(_result)}}))
"""


# BASELINE, reproduced from the lab guide: the lab extractor's and reporter's imports.
LAB_EXTRACTOR_IMPORTS = "import boto3\nimport pymysql\nimport sys"
LAB_REPORTER_IMPORTS = "import boto3\nimport os\nimport json\nimport io\nimport datetime"

# The lab extractor's invocation, as far as it can run: its positional pymysql.connect(host,
# ...) fails on PyMySQL 1.x, so keyword arguments; its query (LAB_QUERY) in a relaxed sql_mode.
_LAB_INVOKE_DEF = """
def _lab_handler(event, context):
    conn = pymysql.connect(host=event['dbUrl'], port=event['dbPort'], user=event['dbUser'],
        passwd=event['dbPassword'], db=event['dbName'], cursorclass=pymysql.cursors.DictCursor,
        init_command="SET SESSION sql_mode = '{mode}'")
    with conn.cursor() as cur:
        cur.execute({query!r})
        result = cur.fetchall()
    conn.close()
    return {{'statusCode': 200, 'body': result}}
"""


def _rows_def() -> str:
    return "def _rows(result):\n    return len(result['body'])\n"


@dataclass(frozen=True)
class Probe:
    """One fresh-process measurement: a key, a label, its code and where it runs."""

    key: str
    label: str
    code: str
    runtime: Runtime
    stdin: str | None = None


def import_probe(key: str, label: str, timed: str, runtime: Runtime, *, pre: str = "") -> Probe:
    return Probe(key, label, _PEAK_RSS + _IMPORT.format(pre=pre, timed=timed), runtime)


def extractor_first_invoke(key: str, label: str, event: dict, runtime: Runtime) -> Probe:
    code = (
        _PEAK_RSS
        + _rows_def()
        + _FIRST_INVOKE.format(
            imports="from extractor.handler import lambda_handler",
            invoke="lambda_handler(_event, None)",
        )
    )
    return Probe(key, label, code, runtime, stdin=json.dumps(event))


def lab_extractor_first_invoke(key: str, label: str, event: dict, runtime: Runtime) -> Probe:
    imports = LAB_EXTRACTOR_IMPORTS + "\nimport pymysql.cursors\n"
    imports += _LAB_INVOKE_DEF.format(mode=LAB_SQL_MODE, query=LAB_QUERY)
    code = (
        _PEAK_RSS
        + _rows_def()
        + _FIRST_INVOKE.format(imports=imports, invoke="_lab_handler(_event, None)")
    )
    return Probe(key, label, code, runtime, stdin=json.dumps(event))


def run_probe(probe: Probe, times: int, *, warmup: int = 1) -> dict[str, Any]:
    """Run one probe `times` times in fresh processes after `warmup` more; medians per field.

    The warm-up run leaves .pyc files where the runtime may write them (the venv's trees).
    """
    return run_probes([probe], times, warmup=warmup)[probe.key]


def run_probes(probes: list[Probe], times: int, *, warmup: int = 1) -> dict[str, dict[str, Any]]:
    """Run every probe `times` times, interleaved (one of each, round after round), so a busy
    machine slows them alike; medians per probe and field, keyed by probe key."""
    runs: dict[str, list[dict[str, Any]]] = {p.key: [] for p in probes}
    for index in range(times + warmup):
        for probe in probes:
            measured = _run_once(probe)
            if index >= warmup:
                runs[probe.key].append(measured)
    return {p.key: _summary(p, runs[p.key]) for p in probes}


def _run_once(probe: Probe) -> dict[str, Any]:
    completed = subprocess.run(
        probe.runtime.command("-c", probe.code),
        cwd=probe.runtime.cwd,
        env=probe.runtime.env,
        input=probe.stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"probe {probe.key!r} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


def _summary(probe: Probe, runs: list[dict[str, Any]]) -> dict[str, Any]:
    fields = {key for run in runs for key, value in run.items() if isinstance(value, int | float)}
    result: dict[str, Any] = {key: statistics.median(run[key] for run in runs) for key in fields}
    result["runs"] = len(runs)
    result["label"] = probe.label
    result["runtime"] = probe.runtime.label
    if "import_ms" in result and "invoke_ms" in result:
        result["import_plus_invoke_ms"] = statistics.median(
            run["import_ms"] + run["invoke_ms"] for run in runs
        )
        result["import_plus_invoke_cpu_ms"] = statistics.median(
            run["import_cpu_ms"] + run["invoke_cpu_ms"] for run in runs
        )
    return result


@dataclass
class Runtimes:
    """The environments to compare: ours now (and without .pyc), ours before, the lab's."""

    extractor: dict[str, Runtime]  # "now" first
    reporter: dict[str, Runtime]
    lab: Runtime


def import_probes(rt: Runtimes) -> list[Probe]:
    """What to import, in fresh processes, for the cold-start table."""
    ext_now, rep_now = rt.extractor["now"], rt.reporter["now"]
    probes = [
        import_probe("pymysql", "import pymysql (the extractor's floor)", "import pymysql",
                     ext_now),
        import_probe("lab_extractor", "lab extractor's imports (boto3, pymysql)",
                     LAB_EXTRACTOR_IMPORTS, rt.lab),
        import_probe("boto3", "import boto3 (the reporter's floor)", "import boto3", rep_now),
        import_probe("lab_reporter", "lab reporter's imports (boto3, os, json, io, datetime)",
                     LAB_REPORTER_IMPORTS, rt.lab),
        import_probe("runtime", "awslambdaric.bootstrap (the runtime client, both functions)",
                     "import awslambdaric.bootstrap", ext_now),
        import_probe("bare", "nothing (the interpreter)", "pass", ext_now),
    ]  # fmt: skip
    if "now, no .pyc" in rt.extractor:
        probes += [
            import_probe("pymysql@no-pyc", "import pymysql, no .pyc", "import pymysql",
                         rt.extractor["now, no .pyc"]),
            import_probe("boto3@no-pyc", "import boto3, no .pyc", "import boto3",
                         rt.reporter["now, no .pyc"]),
        ]  # fmt: skip
    for name, runtime in rt.extractor.items():
        probes.append(
            import_probe(f"extractor@{name}", f"import extractor.handler [{name}]",
                         "import extractor.handler", runtime)
        )  # fmt: skip
    for name, runtime in rt.reporter.items():
        probes += [
            import_probe(f"reporter@{name}", f"import reporter.handler [{name}]",
                         "import reporter.handler", runtime),
            import_probe(f"reporter_over_boto3@{name}",
                         f"import reporter.handler after boto3 (what we add) [{name}]",
                         "import reporter.handler", runtime, pre="import boto3"),
        ]  # fmt: skip
        if (runtime.cwd / "reporter" / "delivery.py").exists():  # issue 8's modules
            probes.append(
                import_probe(f"delivery_over_boto3@{name}",
                             f"import reporter.delivery (and deadline) after boto3 [{name}]",
                             "import reporter.delivery", runtime,
                             pre="import boto3\nimport reporter.errors")
            )  # fmt: skip
    # The delivery record's other cold cost: a fourth boto3 client. Each probe creates the
    # reporter's clients in its order and times the last: DynamoDB after SSM, Lambda and SNS,
    # and, for comparison, SNS after SSM and Lambda (the last client before issue 8).
    probes += [
        import_probe("client_dynamodb", "reporter's DynamoDB client, after its other three",
                     "aws.client('dynamodb')", rep_now,
                     pre=_CLIENTS_FIRST.format(services="'ssm', 'lambda', 'sns'")),
        import_probe("client_sns", "reporter's SNS client, after SSM and Lambda",
                     "aws.client('sns')", rep_now,
                     pre=_CLIENTS_FIRST.format(services="'ssm', 'lambda'")),
    ]  # fmt: skip
    return probes


# Untimed: the reporter imported and `services`' clients created, as a cold start does first.
_CLIENTS_FIRST = """\
import os
os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')
from reporter import aws
import reporter.handler
for _service in ({services},):
    aws.client(_service)
"""
