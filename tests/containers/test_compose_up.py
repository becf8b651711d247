"""`docker compose up` with the shipped docker-compose.yml, as a user runs it, on the engine.

The only change: tests/containers/compose.standins.yml swaps the images this machine cannot pull
for the stand-ins (by tag, and the functions' build arguments to the stand-in base), and the
compose file's own settings (.env) move its ports to free ones and name the LocalStack image.
The project gets its own name, so a user's stack on this machine is left alone.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pymysql
import pytest

from containers.suite import FIGURES, Standins, megabytes
from reporter.report import build_report, render_text
from support.aws import free_port
from support.engine import docker, docker_env, image_size
from support.sales import expected_rows
from support.tools import REPO_ROOT, compose_binary

PROJECT = "cafe-ctest"
OVERRIDE = REPO_ROOT / "tests" / "containers" / "compose.standins.yml"
ROOT_PASSWORD = "cafe-local-root"  # .env.example's default, which the stack runs with
REPORT_TIMEOUT_S = 600


@dataclass
class Stack:
    """The compose project: how to run `docker compose` on it, and its database port."""

    directory: Path
    env: dict[str, str]
    env_file: Path
    db_port: int

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        command = [
            str(compose_binary()),
            "--project-name",
            PROJECT,
            "--project-directory",
            str(self.directory),
            "--file",
            str(self.directory / "docker-compose.yml"),
            "--file",
            str(OVERRIDE),
            "--env-file",
            str(self.env_file),
            *args,
        ]
        return subprocess.run(
            command,
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 900) -> str:
        result = self.compose(*args, timeout=timeout)
        assert result.returncode == 0, (
            f"compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout

    def expected_text(self, day: date) -> str:
        """The report for `day`, computed from the stack's own database."""
        conn = pymysql.connect(
            host="127.0.0.1",
            port=self.db_port,
            user="root",
            password=ROOT_PASSWORD,
            database="cafe",
            init_command="SET time_zone = '+00:00'",
        )
        try:
            rows = expected_rows(conn, day, ZoneInfo("UTC"))
        finally:
            conn.close()
        return render_text(build_report(day, "UTC", rows))


def project_leftovers() -> dict[str, list[str]]:
    label = f"label=com.docker.compose.project={PROJECT}"
    return {
        kind: docker(*command, "--filter", label, "--quiet").stdout.split()
        for kind, command in (
            ("containers", ("ps", "--all")),
            ("volumes", ("volume", "ls")),
            ("networks", ("network", "ls")),
        )
    }


@pytest.fixture(scope="module")
def stack(
    checkout: Path, standins: Standins, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    mysql, localstack = standins.mysql, standins.localstack
    ports = {name: free_port() for name in ("DB", "LOCALSTACK", "EXTRACTOR", "REPORTER")}
    env_file = tmp_path_factory.mktemp("compose") / "ctest.env"
    env_file.write_text(
        "".join(f"{name}_PORT={port}\n" for name, port in ports.items())
        + f"LOCALSTACK_IMAGE={localstack}\n"
    )
    standin = standins.python.build_args()
    env = docker_env(
        {
            "CAFE_STANDIN_MYSQL": mysql,
            "CAFE_STANDIN_PYTHON": standin["PYTHON_IMAGE"],
            "CAFE_STANDIN_RIE_RELEASES": standin["RIE_RELEASES"],
            "CAFE_STANDIN_RIE_SHA256": standin["RIE_SHA256_AMD64"],
            "CAFE_STANDIN_RDS_CA_BUNDLE_URL": standin["RDS_CA_BUNDLE_URL"],
            # Compose's own defaults, not the developer's.
            "HOME": str(env_file.parent),
        }
    )
    stack = Stack(checkout, env, env_file, ports["DB"])
    stack.compose("down", "--volumes", "--remove-orphans")  # a run killed half-way
    try:
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans")


def test_compose_up_builds_starts_and_delivers_todays_report(stack: Stack) -> None:
    began = time.monotonic()
    stack.ok("build")
    FIGURES.add(f"compose build (3 images): {time.monotonic() - began:.0f} s")
    for service in ("extractor", "reporter", "report"):
        size = image_size(f"{PROJECT}-{service}")
        FIGURES.add(f"size of compose's {PROJECT}-{service}: {megabytes(size)}")

    began = time.monotonic()
    stack.ok("up", "--detach")
    [report] = stack.ok("ps", "--all", "--quiet", "report").split()
    # `up --wait` would return before the one-shot has finished: wait for it to exit.
    status = docker("wait", report, timeout=REPORT_TIMEOUT_S).stdout.strip()
    elapsed = time.monotonic() - began
    FIGURES.add(f"compose up to the delivered report: {elapsed:.1f} s")
    logs = docker("logs", report)
    assert status == "0", f"{logs.stdout}\n{logs.stderr}\n{stack.compose('logs').stdout}"

    today = datetime.now(UTC).date()
    head, _, text = logs.stdout.partition("\n\n")
    assert head.startswith("Delivered to sales-report-inbox: SNS message ")
    assert f"Subject: Daily Sales Analysis Report {today}" in head
    assert text == stack.expected_text(today)
    assert "cafe-local-password" not in logs.stdout + logs.stderr


def test_compose_run_report_for_yesterday(stack: Stack) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    result = stack.compose("run", "--rm", "report", "--date", yesterday.isoformat())
    assert result.returncode == 0, result.stderr
    head, _, text = result.stdout.partition("\n\n")
    assert f"Subject: Daily Sales Analysis Report {yesterday}" in head
    assert text == stack.expected_text(yesterday)


def test_compose_run_report_again_says_already_sent_and_resend_sends_it(stack: Stack) -> None:
    today = datetime.now(UTC).date()
    first = docker("logs", stack.ok("ps", "--all", "--quiet", "report").split()[0]).stdout
    first_id = first.split("SNS message ", 1)[1].split(",", 1)[0]

    again = stack.compose("run", "--rm", "report")
    assert again.returncode == 0, again.stderr
    assert f"The report for {today} was already sent, as SNS message {first_id}" in again.stdout

    resent = stack.compose("run", "--rm", "report", "--resend")
    assert resent.returncode == 0, resent.stderr
    head, _, text = resent.stdout.partition("\n\n")
    assert head.startswith("Delivered to sales-report-inbox: SNS message ")
    assert first_id not in head
    assert text == stack.expected_text(today)


def test_compose_run_report_with_the_database_stopped_fails_with_the_reason(stack: Stack) -> None:
    # A day not sent yet: a day sent already is answered without asking the database.
    day = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    stack.ok("stop", "db")
    try:
        result = stack.compose("run", "--rm", "--no-deps", "report", "--date", day)
    finally:
        stack.ok("start", "db")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = [line for line in result.stderr.splitlines() if line.startswith("report: ")]
    assert line.startswith("report: the reporter failed: ExtractorFailedError: ")
    assert "cannot reach" in line, line


def test_compose_down_volumes_leaves_nothing(stack: Stack) -> None:
    assert project_leftovers()["containers"], "the stack should be there before `down`"
    stack.ok("down", "--volumes")
    assert project_leftovers() == {"containers": [], "volumes": [], "networks": []}
