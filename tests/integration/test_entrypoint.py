"""docker/entrypoint.sh, the images' ENTRYPOINT, both ways: inside Lambda and under the emulator.

Stand-ins on PATH record how they were started: `python` (inside Lambda the script must exec
`python -m awslambdaric <handler>`) and `aws-lambda-rie` (outside, the emulator with that same
command). Each records its process id, which must be the entry script's own: it exec'd, so the
runtime gets the container's signals. Then the script starts the real extractor under the
Runtime-API harness, which plays Lambda.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.database import Server, extractor_event, reader_user
from support.images import function_process, handler
from support.tools import REPO_ROOT

ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"
HANDLER = "extractor.handler.lambda_handler"
# Records its name, process id and arguments as one JSON line, then exits 0.
RECORDER = """#!/usr/bin/env bash
printf '{"name": "%s", "pid": %s, "argv": [' "$(basename "$0")" "$$" >>"$RECORD"
sep=""
for arg in "$@"; do printf '%s"%s"' "$sep" "$arg" >>"$RECORD"; sep=", "; done
printf ']}\\n' >>"$RECORD"
"""


def stand_ins(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text(RECORDER, encoding="utf-8")
        path.chmod(0o755)
    return directory


def start(tmp_path: Path, bin_dir: Path, env: dict[str, str], *args: str) -> tuple[int, str, list]:
    """Run the entry script with only `bin_dir` and the system directories on PATH."""
    record = tmp_path / "record.jsonl"
    process = subprocess.Popen(
        ["bash", str(ENTRYPOINT), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(record), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = process.communicate(timeout=30)
    calls = (
        [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    )
    for call in calls:
        assert call["pid"] == process.pid, "the entry script must exec, not run a child"
    return process.returncode, stderr, calls


def test_entrypoint_in_lambda_execs_the_runtime_client(tmp_path: Path) -> None:
    bin_dir = stand_ins(tmp_path / "bin", "python", "aws-lambda-rie")
    status, stderr, calls = start(
        tmp_path, bin_dir, {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, HANDLER
    )
    assert status == 0, stderr
    [call] = calls
    assert call["name"] == "python"
    assert call["argv"] == ["-m", "awslambdaric", HANDLER]


def test_entrypoint_outside_lambda_execs_the_emulator(tmp_path: Path) -> None:
    bin_dir = stand_ins(tmp_path / "bin", "python", "aws-lambda-rie")
    status, stderr, calls = start(tmp_path, bin_dir, {}, HANDLER)
    assert status == 0, stderr
    [call] = calls
    assert call["name"] == "aws-lambda-rie"
    assert call["argv"] == ["python", "-m", "awslambdaric", HANDLER]


@pytest.mark.parametrize("runtime_api", [None, ""], ids=["unset", "empty"])
def test_entrypoint_without_emulator_says_this_is_the_production_image(
    tmp_path: Path, runtime_api: str | None
) -> None:
    bin_dir = stand_ins(tmp_path / "bin", "python")
    env = {} if runtime_api is None else {"AWS_LAMBDA_RUNTIME_API": runtime_api}
    status, stderr, calls = start(tmp_path, bin_dir, env, "reporter.handler.lambda_handler")
    assert status != 0
    assert calls == []
    assert "production image" in stderr
    assert "docker build -f docker/Dockerfile --target reporter-local ." in stderr


@pytest.mark.parametrize("runtime_api", ["x:1", None], ids=["in-lambda", "outside"])
@pytest.mark.parametrize("args", [(), ("",)], ids=["none", "empty"])
def test_entrypoint_without_a_handler_fails_with_usage(
    tmp_path: Path, args: tuple[str, ...], runtime_api: str | None
) -> None:
    bin_dir = stand_ins(tmp_path / "bin", "python")  # the production image: no emulator
    env = {} if runtime_api is None else {"AWS_LAMBDA_RUNTIME_API": runtime_api}
    status, stderr, calls = start(tmp_path, bin_dir, env, *args)
    assert status == 2
    assert calls == []
    assert stderr == (
        "lambda-entrypoint: no handler given (e.g. extractor.handler.lambda_handler)\n"
    )


def test_entrypoint_names_both_local_targets_for_a_handler_of_its_own(tmp_path: Path) -> None:
    bin_dir = stand_ins(tmp_path / "bin", "python")
    status, stderr, _ = start(tmp_path, bin_dir, {}, "app.main")
    assert status == 127
    assert "--target {extractor|reporter}-local ." in stderr


def test_entrypoint_starts_the_real_runtime_under_the_harness(
    tmp_path: Path, server: Server, cafe_db: str
) -> None:
    # As in the image: `python` is an interpreter whose only packages are the task root's (the
    # rebuilt extractor's); the harness sets AWS_LAMBDA_RUNTIME_API, as Lambda does.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    (bin_dir / "python").chmod(0o755)
    command = ["bash", str(ENTRYPOINT), handler("extractor")]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    today = datetime.now(UTC).date()
    with (
        reader_user(server, cafe_db) as (user, password),
        function_process("extractor", env=env, command=command) as extractor,
    ):
        extractor.wait_ready()
        event = extractor_event(server, cafe_db, today, dbUser=user, dbPassword=password)
        invocation = extractor.invoke(event)
    assert invocation.function_error is None, invocation.payload
    assert invocation.payload["reportDate"] == today.isoformat()
    assert invocation.payload["body"], "db/seed.sql promises orders today"
