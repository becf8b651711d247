"""docker/report_once.py, the compose stack's one-shot, run for real against a stand-in stack.

As in compose: the reporter and the extractor run from their rebuilt task roots under the
Runtime-API harness (answering failures as the real emulator does: 200, no X-Amz-Function-Error),
SSM/SNS/SQS are moto's, the rows come from the real database; the one-shot runs with the
reporter image's packages only (`python -S`, PYTHONPATH = the reporter's task root).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report import build_report, render_text
from support.aws import CREDENTIALS, Inbox, aws_client, free_port
from support.database import Server, reader_user
from support.images import function_process, task_roots
from support.runtime_api import LambdaProcess
from support.sales import expected_rows
from support.ssm import db_parameters, reporter_env
from support.tools import REPO_ROOT

REPORT_ONCE = REPO_ROOT / "docker" / "report_once.py"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


@dataclass
class Stack:
    """The reporter's surroundings for one test: settings in SSM, an inbox, the extractor."""

    server: Server
    database: str
    password: str
    moto: str
    prefix: str
    inbox: Inbox
    extractor: LambdaProcess

    def reporter(self, *, function_error_header: bool = False) -> LambdaProcess:
        env = reporter_env(
            self.moto, self.extractor.endpoint_url, self.prefix, self.inbox.topic_arn
        )
        return function_process("reporter", env=env, function_error_header=function_error_header)

    def report_once(
        self, reporter_url: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the one-shot as the compose service does, with the reporter image's packages."""
        queue = self.inbox.queue_url.rsplit("/", 1)[1]
        return subprocess.run(
            [sys.executable, "-S", str(REPORT_ONCE), "--timeout", str(timeout), *args],
            env={
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(task_roots()["reporter"]),
                **CREDENTIALS,
                "AWS_ENDPOINT_URL_SQS": self.moto,
                "INBOX_QUEUE_NAME": queue,
                "REPORTER_URL": reporter_url,
            },
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            check=False,
        )


@pytest.fixture(scope="module")
def extractor() -> Iterator[LambdaProcess]:
    with function_process("extractor", function_error_header=False) as process:
        process.wait_ready()
        yield process


@pytest.fixture
def stack(
    server: Server, cafe_db: str, moto_endpoint: str, extractor: LambdaProcess
) -> Iterator[Stack]:
    with (
        reader_user(server, cafe_db) as (user, password),
        db_parameters(moto_endpoint, server, cafe_db, user, password) as prefix,
        Inbox.create(moto_endpoint) as inbox,
    ):
        yield Stack(server, cafe_db, password, moto_endpoint, prefix, inbox, extractor)


def expected_text(stack: Stack, day: str) -> str:
    conn = stack.server.connect(stack.database, init_command="SET time_zone = '+00:00'")
    try:
        rows = expected_rows(conn, datetime.fromisoformat(day).date(), ZoneInfo("UTC"))
    finally:
        conn.close()
    return render_text(build_report(datetime.fromisoformat(day).date(), "UTC", rows))


def test_report_once_prints_the_report_as_delivered_and_can_run_again(stack: Stack) -> None:
    today = datetime.now(UTC).date().isoformat()
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    with stack.reporter() as reporter:
        url = reporter.endpoint_url + INVOKE_PATH
        first = stack.report_once(url)
        second = stack.report_once(url, "--date", yesterday)

    assert first.returncode == 0, first.stderr
    head, _, text = first.stdout.partition("\n\n")
    assert f"Subject: Daily Sales Analysis Report {today}" in head
    assert text == expected_text(stack, today)
    assert stack.password not in first.stdout + first.stderr

    assert second.returncode == 0, second.stderr
    assert f"Subject: Daily Sales Analysis Report {yesterday}" in second.stdout
    assert second.stdout.partition("\n\n")[2] == expected_text(stack, yesterday)
    # Each run printed its own message and took it off the queue.
    ids = [re.search(r"SNS message (\S+),", r.stdout)[1] for r in (first, second)]  # type: ignore[index]
    assert ids[0] != ids[1]
    assert stack.inbox.messages(wait=0.5) == []


def test_report_once_twice_for_a_day_says_already_sent_and_resend_sends_it(stack: Stack) -> None:
    with stack.reporter() as reporter:
        url = reporter.endpoint_url + INVOKE_PATH
        first = stack.report_once(url)
        again = stack.report_once(url)
        resent = stack.report_once(url, "--resend")

    assert first.returncode == 0, first.stderr
    first_id = re.search(r"SNS message (\S+),", first.stdout)[1]  # type: ignore[index]
    assert again.returncode == 0, again.stderr
    assert "was already sent, as SNS message " + first_id in again.stdout
    assert "--resend" in again.stdout
    assert resent.returncode == 0, resent.stderr
    resent_id = re.search(r"SNS message (\S+),", resent.stdout)[1]  # type: ignore[index]
    assert resent_id != first_id
    assert resent.stdout.partition("\n\n")[2] == first.stdout.partition("\n\n")[2]


@pytest.mark.parametrize("function_error_header", [False, True], ids=["emulator", "lambda"])
def test_report_once_fails_with_the_reporters_error(
    stack: Stack, function_error_header: bool
) -> None:
    aws_client("ssm", stack.moto).put_parameter(
        Name=f"{stack.prefix}/dbPassword", Value="wrong", Type="SecureString", Overwrite=True
    )
    with stack.reporter(function_error_header=function_error_header) as reporter:
        result = stack.report_once(reporter.endpoint_url + INVOKE_PATH)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("report: the reporter failed: ExtractorFailedError: ")
    assert "DatabaseAuthError" in line
    assert "access denied" in line


def test_report_once_gives_up_on_an_unreachable_reporter(stack: Stack) -> None:
    port = free_port()
    began = time.monotonic()
    result = stack.report_once(f"http://127.0.0.1:{port}{INVOKE_PATH}", timeout=1.5)
    assert time.monotonic() - began < 10
    assert result.returncode == 1
    assert result.stderr == (
        f"report: cannot reach the reporter at 127.0.0.1:{port} within 1.5 s "
        "(Connection refused): is the reporter service running?\n"
    )


def test_report_once_names_a_missing_inbox(stack: Stack) -> None:
    missing = f"no-such-inbox-{stack.prefix.rsplit('-', 1)[1]}"
    with stack.reporter() as reporter:
        result = stack.report_once(reporter.endpoint_url + INVOKE_PATH, "--queue", missing)
    assert result.returncode == 1
    assert result.stderr.startswith(f"report: cannot read the inbox queue {missing}: ")
    assert len(result.stderr.splitlines()) == 1


def test_report_once_gives_up_when_the_report_never_arrives(stack: Stack) -> None:
    # A queue nobody subscribed: the reporter publishes, but nothing arrives there.
    sqs = aws_client("sqs", stack.moto)
    lonely = f"unsubscribed-{stack.prefix.rsplit('-', 1)[1]}"
    url = sqs.create_queue(QueueName=lonely)["QueueUrl"]
    try:
        with stack.reporter() as reporter:
            result = stack.report_once(
                reporter.endpoint_url + INVOKE_PATH, "--queue", lonely, timeout=5
            )
    finally:
        sqs.delete_queue(QueueUrl=url)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("report: the report (SNS message ")
    assert line.endswith(
        f"did not reach the queue {lonely} within 5 s: is the queue subscribed to the topic?"
    )
