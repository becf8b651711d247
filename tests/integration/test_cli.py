"""`python -m reporter` as a user runs it: a real subprocess, the real database, moto over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report import build_report, render_text
from support.aws import CREDENTIALS, Inbox
from support.database import REPO_ROOT, Server, reader_user
from support.runtime_api import LambdaProcess
from support.sales import expected_rows


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "reporter", *args],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def db_url(server: Server, database: str, user: str, password: str) -> str:
    return f"mysql://{user}:{password}@{server.host}:{server.port}/{database}"


def test_cli_dry_run_prints_the_report_for_a_seeded_day(server: Server, cafe_db: str) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with reader_user(server, cafe_db) as (user, password):
        result = run_cli(
            "--date", yesterday.isoformat(), "--db-url", db_url(server, cafe_db, user, password),
            "--dry-run",
        )  # fmt: skip
    conn = server.connect(cafe_db, init_command="SET time_zone = '+00:00'")
    try:
        rows = expected_rows(conn, yesterday, ZoneInfo("UTC"))
    finally:
        conn.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_text(build_report(yesterday, "UTC", rows))
    assert "Product Group: Pastries" in result.stdout
    assert password not in result.stdout + result.stderr


def test_cli_dry_run_empty_day(server: Server, cafe_db: str) -> None:
    closed = datetime.now(UTC).date() - timedelta(days=13)
    url = f"mysql://{server.user}@{server.host}:{server.port}/{cafe_db}"
    result = run_cli("--date", closed.isoformat(), "--db-url", url, "--dry-run",
                     MYSQL_PWD=server.password)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "There were no orders today." in result.stdout
    assert f"Date: {closed}" in result.stdout


def test_cli_dry_run_json_variant(server: Server, cafe_db: str) -> None:
    url = f"mysql://{server.user}:{server.password}@{server.host}:{server.port}/{cafe_db}"
    result = run_cli("--db-url", url, "--dry-run", "--json", "--timezone", "Europe/Paris")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["timezone"] == "Europe/Paris"
    assert document["reportDate"] == datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()


def test_cli_database_error_exits_1_with_the_reason(server: Server, cafe_db: str) -> None:
    with reader_user(server, cafe_db) as (user, _password):
        result = run_cli("--db-url", db_url(server, cafe_db, user, "wrong-pw"), "--dry-run")
    assert result.returncode == 1
    assert f": access denied for user '{user}'" in result.stderr
    assert "error: report for " in result.stderr  # the day it was for
    assert "wrong-pw" not in result.stderr
    assert result.stdout == ""


def test_cli_publishes_through_ssm_lambda_and_sns(
    server: Server, cafe_db: str, moto_endpoint: str
) -> None:
    # The way an operator re-sends a day from a laptop: SSM, the extractor function, SNS.
    from support.aws import aws_client

    with (
        reader_user(server, cafe_db) as (user, password),
        Inbox.create(moto_endpoint) as inbox,
        LambdaProcess("extractor.handler.lambda_handler") as extractor,
    ):
        ssm = aws_client("ssm", moto_endpoint)
        prefix = "/cafe-cli-" + user[-8:]
        for key, value in {
            "dbUrl": server.host, "dbPort": str(server.port), "dbName": cafe_db, "dbUser": user,
        }.items():  # fmt: skip
            ssm.put_parameter(Name=f"{prefix}/{key}", Value=value, Type="String")
        ssm.put_parameter(Name=f"{prefix}/dbPassword", Value=password, Type="SecureString")
        yesterday = datetime.now(UTC).date() - timedelta(days=1)

        result = run_cli(
            "--date", yesterday.isoformat(), "-v",
            **CREDENTIALS, AWS_ENDPOINT_URL=moto_endpoint,
            AWS_ENDPOINT_URL_LAMBDA=extractor.endpoint_url, EXTRACTOR_FUNCTION_NAME="function",
            SSM_PREFIX=prefix, topicARN=inbox.topic_arn,
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        assert f"published the report for {yesterday}" in result.stdout
        [envelope] = inbox.messages(wait=2)
        assert json.loads(envelope["Message"])["reportDate"] == yesterday.isoformat()
        assert "publish took" in result.stderr  # -v logs each step
        assert password not in result.stdout + result.stderr + extractor.output()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dburl", "mysql://cafe:QXZJ-SECRET@db.internal/cafe"], "did you mean --db-url?"),
        (["--date", "9999-12-31", "--dry-run"], "from 0001-01-02 to 9999-12-30"),
        (["--date", "20261130", "--dry-run"], "YYYY-MM-DD"),
        (["--db-url", "mysql://cafe:QXZJ-SECRET@db.internal:0/cafe", "--dry-run"], "65535"),
        (["--db-url", "mysql://cafe:QXZJ-SECRET\u20ac@db.internal/cafe", "--dry-run"], "send"),
        (["--json"], "--json goes with --dry-run"),
    ],
)
def test_cli_usage_errors_exit_2_in_one_message(args: list[str], fragment: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    for leak in ("QXZ", "SECRET", "\u20ac", "cafe:"):
        assert leak not in result.stdout + result.stderr
    assert result.stdout == ""


def test_cli_without_aws_settings_fails_in_one_line() -> None:
    # No region anywhere: botocore's NoRegionError was a traceback.
    result = run_cli("--dry-run", AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent")
    assert result.returncode == 1
    assert result.stderr.startswith("error: AWS: You must specify a region")
    assert "Traceback" not in result.stderr
