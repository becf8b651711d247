"""The Runtime API harness runs real handlers under the real awslambdaric, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from support.runtime_api import LambdaProcess

# The test handlers' code root, as /var/task is a function's: they import as support.handlers.*.
TESTS_DIR = Path(__file__).resolve().parents[1]


def _handler(module: str) -> str:
    return f"support.handlers.{module}.handler"


def _lambda_client(endpoint_url: str | None = None) -> Any:
    """Return a boto3 Lambda client with dummy credentials and no retries."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _wait_for_log(harness: LambdaProcess, request_id: str, timeout: float = 5) -> dict[str, Any]:
    """Return the first JSON log line carrying request_id, polling the output reader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in harness.output().splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            if record.get("requestId") == request_id:
                return record
        time.sleep(0.02)
    pytest.fail(f"no JSON log line with requestId {request_id}; output:\n{harness.output()}")


@pytest.fixture(scope="module")
def echo() -> Iterator[LambdaProcess]:
    """One warm echo function for the module: the tests below only read its state."""
    env = {"CAFE_MARKER": "from-the-test"}
    with LambdaProcess(_handler("echo"), cwd=TESTS_DIR, env=env) as harness:
        harness.wait_ready()
        yield harness


@pytest.fixture(scope="module", params=[True, False], ids=["lambda", "rie-quirk"])
def raises(request: pytest.FixtureRequest) -> Iterator[LambdaProcess]:
    """A function that always raises, answered as Lambda does and as the real RIE does."""
    with LambdaProcess(
        _handler("raises"), cwd=TESTS_DIR, function_error_header=request.param
    ) as harness:
        yield harness


def test_invoke_round_trips_event_and_context(echo: LambdaProcess) -> None:
    invocation = echo.invoke({"greeting": "café ☕"})

    assert (invocation.status, invocation.function_error) == (200, None)
    result = invocation.payload
    assert result["event"] == {"greeting": "café ☕"}
    assert result["request_id"] == invocation.request_id
    assert result["function_name"] == "function"
    assert result["function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:function"
    assert 0 < result["remaining_ms"] <= 30_000


def test_invoke_without_payload_passes_an_empty_object(echo: LambdaProcess) -> None:
    assert echo.invoke().payload["event"] == {}


def test_invocations_reuse_the_warm_process(echo: LambdaProcess) -> None:
    first, second = echo.invoke(1).payload, echo.invoke(2).payload

    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1


def test_runtime_environment_is_lambdas_not_the_callers(echo: LambdaProcess) -> None:
    environ = echo.invoke().payload["environ"]

    assert set(environ) == {
        "PATH",
        "LANG",
        "TZ",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PYTHONPATH",
        "LAMBDA_TASK_ROOT",
        "_HANDLER",
        "_X_AMZN_TRACE_ID",  # set by awslambdaric from Lambda-Runtime-Trace-Id
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "CAFE_MARKER",
    }
    assert environ["PYTHONPATH"] == environ["LAMBDA_TASK_ROOT"] == str(TESTS_DIR)
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert environ["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environ["CAFE_MARKER"] == "from-the-test"
    assert environ["_X_AMZN_TRACE_ID"].startswith("Root=1-")


def test_boto3_invokes_through_the_endpoint_variable(
    echo: LambdaProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The way the reporter reaches the extractor locally: configuration, no endpoint in code.
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", echo.endpoint_url)

    response = _lambda_client().invoke(FunctionName="function", Payload=b'{"n": 1}')

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    result = json.load(response["Payload"])
    assert result["event"] == {"n": 1}
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(
    "function_name",
    [
        "function:$LATEST",
        "123456789012:function:function",
        "arn:aws:lambda:us-east-1:123456789012:function:function",
        "arn:aws:lambda:us-east-1:123456789012:function:function:$LATEST",
    ],
)
def test_boto3_accepts_qualified_names_and_arns(echo: LambdaProcess, function_name: str) -> None:
    response = _lambda_client(echo.endpoint_url).invoke(FunctionName=function_name)

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response


@pytest.mark.parametrize(
    "function_name",
    ["salesAnalysisReportDataExtractor", "arn:aws:lambda:us-east-1:123456789012:function:other"],
)
def test_boto3_raises_resource_not_found_for_another_function(
    echo: LambdaProcess, function_name: str
) -> None:
    client = _lambda_client(echo.endpoint_url)

    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.invoke(FunctionName=function_name)

    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "Function not found: arn:aws:lambda:us-east-1:123456789012:function:" in str(
        excinfo.value
    )


def test_event_invocation_is_accepted_then_run_in_order(echo: LambdaProcess) -> None:
    before = echo.invoke().payload["calls"]

    response = _lambda_client(echo.endpoint_url).invoke(
        FunctionName="function", InvocationType="Event", Payload=b"{}"
    )

    assert response["StatusCode"] == 202
    assert echo.invoke().payload["calls"] == before + 2  # the queued Event ran first


def test_dry_run_invokes_nothing(echo: LambdaProcess) -> None:
    before = echo.invoke().payload["calls"]

    response = _lambda_client(echo.endpoint_url).invoke(
        FunctionName="function", InvocationType="DryRun"
    )

    assert response["StatusCode"] == 204
    assert echo.invoke().payload["calls"] == before + 1


def test_handler_exception_is_an_unhandled_function_error(raises: LambdaProcess) -> None:
    invocation = raises.invoke({"message": "no sales today"})

    expected_error = "Unhandled" if raises.function_error_header else None
    assert (invocation.status, invocation.function_error) == (200, expected_error)
    assert invocation.payload["errorType"] == "CafeTestError"
    assert invocation.payload["errorMessage"] == "no sales today"
    assert invocation.payload["requestId"] == invocation.request_id


def test_boto3_reads_function_error(raises: LambdaProcess) -> None:
    response = _lambda_client(raises.endpoint_url).invoke(FunctionName="function", Payload=b"{}")

    assert response["StatusCode"] == 200
    if raises.function_error_header:
        assert response["FunctionError"] == "Unhandled"
    else:  # the real RIE's quirk: callers must also recognise the error by its body
        assert "FunctionError" not in response
    assert json.load(response["Payload"])["errorType"] == "CafeTestError"


def test_huge_error_message_reaches_the_caller(raises: LambdaProcess) -> None:
    # awslambdaric also sends the message in a header; the stdlib server would refuse it (431).
    message = "x" * 200_000

    invocation = raises.invoke({"message": message})

    assert invocation.payload["errorMessage"] == message


def test_invocation_past_its_timeout_is_sandbox_timedout() -> None:
    with LambdaProcess(_handler("sleep"), cwd=TESTS_DIR, timeout=1) as harness:
        started = time.monotonic()
        invocation = harness.invoke({"seconds": 30})
        elapsed = time.monotonic() - started

    assert invocation.function_error == "Unhandled"
    assert invocation.payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {invocation.request_id} Error: "
        "Task timed out after 1.00 seconds",
    }
    assert 1 <= elapsed < 5


def test_import_failure_is_reported_as_the_init_error() -> None:
    with LambdaProcess(_handler("broken_import"), cwd=TESTS_DIR) as harness:
        with pytest.raises(RuntimeError, match="exit status 1") as excinfo:
            harness.wait_ready()
        first, later = harness.invoke(), harness.invoke()

    assert "Runtime.ImportModuleError" in str(excinfo.value)  # the output comes with it
    for invocation in (first, later):
        assert (invocation.status, invocation.function_error) == (200, "Unhandled")
        assert invocation.payload["errorType"] == "Runtime.ImportModuleError"
        message = invocation.payload["errorMessage"]
        assert "No module named 'cafe_dependency_missing_from_the_image'" in message


def test_process_exit_fails_the_running_and_later_invocations() -> None:
    with LambdaProcess(_handler("exits"), cwd=TESTS_DIR) as harness:
        crashed = harness.invoke({"status": 3})
        later = harness.invoke()

    for invocation in (crashed, later):
        assert invocation.function_error == "Unhandled"
        assert invocation.payload == {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {invocation.request_id} Error: "
            "Runtime exited with error: exit status 3",
        }


def test_logging_writes_json_lines_with_the_request_id() -> None:
    with LambdaProcess(_handler("logs"), cwd=TESTS_DIR) as harness:
        invocation = harness.invoke({"marker": "daily-report"})
        record = _wait_for_log(harness, invocation.request_id)

    assert invocation.payload == {"logged": True}
    assert record["level"] == "INFO"
    assert record["logger"] == "support.handlers.logs"
    assert record["message"] == "handled"
    assert record["marker"] == "daily-report"
