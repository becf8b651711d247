"""The whole pipeline with no mocks in the path.

Both functions run as real `python -m awslambdaric` subprocesses under the Runtime-API harness;
the reporter reaches SSM and SNS on moto's server and the extractor through the harness, over
real HTTP; the extractor reads the real database. The report is read back from an SQS queue
subscribed to the topic. Delivery records, deadlines and faults: test_delivery.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pymysql
import pytest

from reporter.report import build_report, render_text
from support.aws import Inbox, aws_client
from support.database import Server, reader_user
from support.runtime_api import LambdaProcess
from support.sales import expected_rows
from support.stack import EXTRACTOR, Stack, stack_for


@pytest.fixture(scope="module")
def extractor() -> Iterator[LambdaProcess]:
    """One extractor runtime for the module: it keeps no state between invocations."""
    with LambdaProcess(EXTRACTOR) as process:
        process.wait_ready()
        yield process


@pytest.fixture
def stack(
    server: Server, cafe_db: str, moto_endpoint: str, extractor: LambdaProcess
) -> Iterator[Stack]:
    with stack_for(server, cafe_db, moto_endpoint, extractor) as stack:
        yield stack


def utc_connection(stack: Stack) -> pymysql.Connection:
    return stack.server.connect(stack.database, init_command="SET time_zone = '+00:00'")


def assert_no_secret(stack: Stack, *texts: str) -> None:
    stack.assert_no_secret(*texts)


def test_report_is_published_with_text_and_json(stack: Stack) -> None:
    today = datetime.now(UTC).date()
    invocation, output = stack.run_reporter({"reportDate": today.isoformat()})

    assert invocation.function_error is None, invocation.payload
    summary = invocation.payload
    [envelope] = stack.inbox.messages(wait=2)
    assert envelope["Subject"] == f"Daily Sales Analysis Report {today}"
    assert envelope["MessageId"] == summary["messageId"]
    document = json.loads(envelope["Message"])  # SQS gets the JSON variant

    conn = utc_connection(stack)
    try:
        rows = expected_rows(conn, today, ZoneInfo("UTC"))
    finally:
        conn.close()
    assert rows, "db/seed.sql promises orders today"
    expected_text = render_text(build_report(today, "UTC", rows))
    assert document["text"] == expected_text
    assert document["detail"] == "full"
    assert document["reportDate"] == today.isoformat()
    items = [item for group in document["groups"] for item in group["items"]]
    assert [(i["product_id"], i["quantity"], i["revenue"]) for i in items] == [
        (r["product_id"], r["quantity"], r["revenue"]) for r in rows
    ]
    assert document["totals"]["quantity"] == sum(r["quantity"] for r in rows)
    assert summary["products"] == len(rows)
    assert summary["statusCode"] == 200

    text_lines = expected_text.splitlines()
    assert f"Date: {today}" in text_lines[1]
    assert text_lines[-1].split()[:2] == ["Total", str(sum(r["quantity"] for r in rows))]
    assert_no_secret(stack, output, json.dumps(envelope))


def test_report_logs_one_json_line_per_step_with_the_request_id(stack: Stack) -> None:
    invocation, output = stack.run_reporter({})
    assert invocation.function_error is None, invocation.payload
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    steps = {r["step"]: r for r in records if "step" in r}
    assert set(steps) >= {"ssm", "invoke", "extract", "format", "publish"}
    assert all(r["requestId"] == invocation.request_id for r in steps.values())
    assert all(isinstance(r["ms"], float) for r in steps.values())
    assert steps["invoke"]["rows"] == invocation.payload["products"]
    extractor_steps = [
        json.loads(line)
        for line in stack.extractor.output().splitlines()
        if line.startswith("{") and '"step"' in line
    ]
    assert {r["step"] for r in extractor_steps} >= {"connect", "query"}
    assert_no_secret(stack, output)


def test_report_default_day_is_today_in_the_cafe_zone(stack: Stack) -> None:
    invocation, _ = stack.run_reporter({"key1": "value1"}, REPORT_TIMEZONE="Pacific/Kiritimati")
    assert invocation.function_error is None, invocation.payload
    assert (
        invocation.payload["reportDate"]
        == datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    )


def test_report_on_an_empty_day_says_there_were_no_orders(stack: Stack) -> None:
    closed = datetime.now(UTC).date() - timedelta(days=6)  # the seed's weekly closing day
    invocation, _ = stack.run_reporter({"reportDate": closed.isoformat()})
    assert invocation.function_error is None, invocation.payload
    [envelope] = stack.inbox.messages(wait=2)
    document = json.loads(envelope["Message"])
    assert "There were no orders today." in document["text"]
    assert document["totals"] == {"products": 0, "quantity": 0, "revenue": "0.00"}


def test_report_over_the_sns_limit_is_cut_and_still_published(stack: Stack) -> None:
    day = date(2026, 1, 15)
    conn = stack.server.connect(stack.database, init_command="SET time_zone = '+00:00'")
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO product (id, product_name, price, product_group) VALUES (%s,%s,%s,%s)",
                [
                    (1000 + i, f"Tasting flight no. {i:05d}, seasonal", "2.50", 1 + i % 3)
                    for i in range(5000)
                ],
            )
            cur.execute(
                "INSERT INTO `order` (order_number, order_date_time, amount)"
                " VALUES (99999, '2026-01-15 12:00:00', 0)"
            )
            cur.executemany(
                "INSERT INTO order_item VALUES (99999, %s, %s, %s, %s)",
                [(i, 1000 + i, 1 + i % 4, f"{2.5 * (1 + i % 4):.2f}") for i in range(5000)],
            )
    finally:
        conn.close()

    invocation, _ = stack.run_reporter({"reportDate": day.isoformat()})

    assert invocation.function_error is None, invocation.payload
    assert invocation.payload["products"] == 5000
    assert invocation.payload["detail"] == "totals"
    assert invocation.payload["bytes"] <= 262_144
    [envelope] = stack.inbox.messages(wait=2)
    document = json.loads(envelope["Message"])
    assert document["detail"] == "totals"
    assert document["totals"]["products"] == 5000
    assert document["totals"]["quantity"] == sum(1 + i % 4 for i in range(5000))


@pytest.mark.parametrize("function_error_header", [True, False], ids=["lambda", "emulator"])
def test_report_fails_with_the_extractors_message(
    server: Server, moto_endpoint: str, function_error_header: bool
) -> None:
    from support.database import throwaway_database

    with (
        throwaway_database(server, seed=False) as empty,
        reader_user(server, empty) as (user, password),
        Inbox.create(moto_endpoint) as inbox,
        LambdaProcess(EXTRACTOR, function_error_header=function_error_header) as extractor,
    ):
        stack = Stack(
            server,
            moto_endpoint,
            empty,
            user,
            password,
            f"/cafe-test-{uuid.uuid4().hex[:8]}",
            inbox,
            extractor,
        )
        stack.put_parameters()
        invocation, output = stack.run_reporter({})
        assert invocation.function_error == "Unhandled"
        assert invocation.payload["errorType"] == "ExtractorFailedError"
        assert "sales query failed" in invocation.payload["errorMessage"]
        assert "db/seed.sql" in invocation.payload["errorMessage"]
        assert inbox.messages(wait=0.5) == []
        assert_no_secret(stack, output)


def expect_failure(stack: Stack, event: Any, error_type: str, *fragments: str, **env: str) -> None:
    invocation, output = stack.run_reporter(event, **env)
    assert invocation.function_error == "Unhandled", invocation.payload
    assert invocation.payload["errorType"] == error_type, invocation.payload
    for fragment in fragments:
        assert fragment in invocation.payload["errorMessage"]
    assert stack.inbox.messages(wait=0.5) == [], "nothing may be published after a failure"
    assert_no_secret(stack, output, invocation.raw.decode())


def test_failure_database_down(stack: Stack) -> None:
    from support.aws import free_port

    port = free_port()
    stack.put_parameters(dbUrl="127.0.0.1", dbPort=str(port))
    expect_failure(
        stack,
        {},
        "ExtractorFailedError",
        "DatabaseUnreachableError",
        f"127.0.0.1:{port}",
        "LambdaSG",
    )


def test_failure_wrong_password(stack: Stack) -> None:
    stack.put_parameters(dbPassword="not-the-password")
    expect_failure(
        stack,
        {},
        "ExtractorFailedError",
        "DatabaseAuthError",
        f"access denied for user '{stack.user}'",
    )


def test_failure_missing_ssm_parameter(stack: Stack) -> None:
    aws_client("ssm", stack.moto).delete_parameter(Name=f"{stack.prefix}/dbName")
    expect_failure(stack, {}, "ParameterError", f"missing SSM parameter(s) {stack.prefix}/dbName")


def test_failure_extractor_not_found(stack: Stack) -> None:
    expect_failure(
        stack,
        {},
        "ExtractorFailedError",
        "'salesAnalysisReportDataExtractor'",
        "ResourceNotFoundException",
        EXTRACTOR_FUNCTION_NAME="salesAnalysisReportDataExtractor",
    )


def test_failure_sns_topic_gone(stack: Stack) -> None:
    gone = stack.inbox.topic_arn + "-deleted"
    invocation, output = stack.run_reporter({}, topicARN=gone)
    assert invocation.function_error == "Unhandled"
    assert invocation.payload["errorType"] == "PublishError"
    assert f"cannot publish the report to {gone}" in invocation.payload["errorMessage"]
    assert_no_secret(stack, output)


def test_failure_bad_report_date(stack: Stack) -> None:
    expect_failure(stack, {"reportDate": "2026-02-30"}, "EventError", "'reportDate'", "2026-02-30")


def test_failure_topic_arn_not_set(stack: Stack) -> None:
    expect_failure(stack, {}, "SettingsError", "topicARN", topicARN="")


def test_report_at_debug_log_level_still_hides_the_password(stack: Stack) -> None:
    # botocore logs whole request bodies at DEBUG, and the extractor's payload holds the password.
    invocation, output = stack.run_reporter({}, AWS_LAMBDA_LOG_LEVEL="DEBUG")
    assert invocation.function_error is None, invocation.payload
    levels = {json.loads(line)["level"] for line in output.splitlines() if line.startswith("{")}
    assert "DEBUG" in levels  # the level really was DEBUG
    assert_no_secret(stack, output)
