"""Exactly one report per café day, a deadline on every call, nothing lost: on real services.

Both functions run under the real runtime client (the Runtime-API harness), the reporter talks to
moto's server over HTTP and the extractor to the real database. Faults come from a TCP proxy in
front of one dependency at a time (tests/support/faults.py): a black hole, or an answer that
trickles in a byte at a time. Each failure must be our own error naming the dependency, returned
before the function's timeout (measured here: a functional bound, not a benchmark).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from reporter.pipeline import PUBLISH_CAP_S
from support.aws import aws_client
from support.database import Server
from support.faults import BLACKHOLE, FaultProxy, cut, delay, trickle
from support.runtime_api import Invocation, LambdaProcess
from support.stack import EXTRACTOR, REPORTER_OWN_BUDGET_S, Stack, stack_for

# Short function timeouts keep the fault tests quick; the reporter's follows the template's rule.
EXTRACTOR_TIMEOUT_S = 6.0
REPORTER_TIMEOUT_S = EXTRACTOR_TIMEOUT_S + REPORTER_OWN_BUDGET_S


@pytest.fixture(scope="module")
def extractor() -> Iterator[LambdaProcess]:
    with LambdaProcess(EXTRACTOR, timeout=EXTRACTOR_TIMEOUT_S) as process:
        process.wait_ready()
        yield process


@pytest.fixture
def stack(
    server: Server, cafe_db: str, moto_endpoint: str, extractor: LambdaProcess
) -> Iterator[Stack]:
    with stack_for(server, cafe_db, moto_endpoint, extractor) as stack:
        yield stack


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def scheduled_event() -> dict[str, str]:
    """What EventBridge Scheduler sends (the stack's REPORT_TIMEZONE is UTC)."""
    return {"scheduledTime": datetime.now(UTC).replace(microsecond=0).isoformat()}


def queries_run(stack: Stack) -> int:
    """How many sales queries the extractor has run (one JSON log line each)."""
    return stack.extractor.output().count('"step": "query"')


def ok(invocation: Invocation) -> dict:
    assert invocation.function_error is None, invocation.payload
    assert invocation.payload["statusCode"] == 200
    return invocation.payload


# --- one delivery per day ---------------------------------------------------------------------


def test_the_same_scheduled_event_three_times_is_published_once(stack: Stack) -> None:
    event = scheduled_event()
    queries_before = queries_run(stack)
    with stack.reporter() as reporter:
        reporter.wait_ready()
        results = [ok(reporter.invoke(event)) for _ in range(3)]

    assert [r["delivery"] for r in results] == ["sent", "already-sent", "already-sent"]
    first = results[0]["messageId"]
    assert [r["messageId"] for r in results] == [first] * 3
    envelopes = stack.inbox.messages(wait=1)
    assert [e["MessageId"] for e in envelopes] == [first]
    # A day sent already is answered from the record, without asking the database again.
    assert queries_run(stack) - queries_before == 1
    record = stack.delivery_record(today())
    assert record is not None
    assert record["status"] == {"S": "sent"}
    assert record["firstMessageId"] == {"S": first}
    assert record["sends"] == {"N": "1"}
    assert "owner" not in record
    assert "claimExpires" not in record
    expires_in_days = (int(record["expiration"]["N"]) - time.time()) / 86400
    assert 89 < expires_in_days <= 90


def test_two_reporters_at_once_publish_once(stack: Stack) -> None:
    event = scheduled_event()
    with stack.reporter() as first, stack.reporter() as second:
        first.wait_ready()
        second.wait_ready()
        with ThreadPoolExecutor(2) as pool:
            results = [ok(i) for i in pool.map(lambda p: p.invoke(event), (first, second))]

    assert sorted(r["delivery"] for r in results) == ["already-sent", "sent"]
    assert len({r["messageId"] for r in results}) == 1
    assert len(stack.inbox.messages(wait=1)) == 1


def test_a_resend_publishes_again_and_is_recorded(stack: Stack) -> None:
    day = today()
    with stack.reporter() as reporter:
        reporter.wait_ready()
        first = ok(reporter.invoke({"reportDate": day}))
        again = ok(reporter.invoke({"reportDate": day}))
        resent = ok(reporter.invoke({"reportDate": day, "resend": True}))

    assert (first["delivery"], again["delivery"], resent["delivery"]) == (
        "sent",
        "already-sent",
        "sent",
    )
    assert resent["messageId"] != first["messageId"]
    assert len(stack.inbox.messages(wait=1)) == 2
    record = stack.delivery_record(day)
    assert record is not None
    assert record["sends"] == {"N": "2"}
    assert record["firstMessageId"] == {"S": first["messageId"]}
    assert record["lastMessageId"] == {"S": resent["messageId"]}


def test_a_crashed_runs_claim_expires_and_the_next_run_publishes_once(stack: Stack) -> None:
    # What a run that died while publishing leaves behind: a claim, no outcome.
    day = today()
    claim_ends = time.time() + 3
    aws_client("dynamodb", stack.moto).put_item(
        TableName=stack.inbox.delivery_table,
        Item={
            "id": {"S": f"{stack.inbox.topic_arn}#{day}"},
            "status": {"S": "claimed"},
            "owner": {"S": "crashed-run"},
            "claimExpires": {"N": str(int(claim_ends * 1000))},
        },
    )
    invocation, output = stack.run_reporter({"reportDate": day})

    result = ok(invocation)
    assert result["delivery"] == "sent"
    assert time.time() >= claim_ends  # it waited for the claim to expire, then took it over
    assert len(stack.inbox.messages(wait=1)) == 1
    assert "taking over the expired claim of crashed-run" in output
    assert "possible second copy" in output


def test_a_refused_publish_gives_the_claim_back(stack: Stack) -> None:
    gone = stack.inbox.topic_arn + "-deleted"  # SNS answers NotFound: surely not sent
    invocation, _ = stack.run_reporter({}, topicARN=gone)

    assert invocation.payload["errorType"] == "PublishError"
    assert f"report for {today()}" in invocation.payload["errorMessage"]
    response = aws_client("dynamodb", stack.moto).get_item(
        TableName=stack.inbox.delivery_table, Key={"id": {"S": f"{gone}#{today()}"}}
    )
    assert response["Item"]["status"] == {"S": "released"}  # a retry may publish at once


def test_the_sns_answer_held_past_the_budget_is_the_documented_second_copy(
    stack: Stack,
) -> None:
    """SNS took the message, but its answer came too late: the run cannot know it was sent."""
    with FaultProxy.to_url(stack.moto) as sns:
        sns.schedule([delay(PUBLISH_CAP_S + 3)])  # the first connection's answer only
        event = scheduled_event()
        first, first_output = stack.run_reporter(event, AWS_ENDPOINT_URL_SNS=sns.url)

        assert first.payload["errorType"] == "PublishError", first.payload
        assert "SNS may have delivered the report" in first.payload["errorMessage"]
        assert len(stack.inbox.messages(wait=1)) == 1  # it had: SNS acted before answering
        record = stack.delivery_record(today())
        assert record is not None
        assert record["status"] == {"S": "claimed"}  # the outcome is unknown

        # Lambda's retry: it waits out the claim, takes it over and publishes again.
        retry, retry_output = stack.run_reporter(event, AWS_ENDPOINT_URL_SNS=sns.url)

    assert ok(retry)["delivery"] == "sent"
    assert len(stack.inbox.messages(wait=1)) == 1  # the second copy (the first was read above)
    assert "possible second copy" in retry_output
    stack.assert_no_secret(first_output, retry_output)


# --- configuration ----------------------------------------------------------------------------


def test_without_delivery_table_the_function_refuses_to_run(stack: Stack) -> None:
    invocation, _ = stack.run_reporter({}, DELIVERY_TABLE="")
    assert invocation.payload["errorType"] == "SettingsError"
    assert "DELIVERY_TABLE" in invocation.payload["errorMessage"]
    assert stack.inbox.messages(wait=0.5) == []


def test_a_missing_delivery_table_is_named_and_nothing_is_published(stack: Stack) -> None:
    invocation, output = stack.run_reporter({}, DELIVERY_TABLE="no-such-delivery-table")
    assert invocation.payload["errorType"] == "DeliveryError"
    assert "'no-such-delivery-table'" in invocation.payload["errorMessage"]
    assert "ResourceNotFoundException" in invocation.payload["errorMessage"]
    assert stack.inbox.messages(wait=0.5) == []
    stack.assert_no_secret(output)


# --- a deadline on every call -----------------------------------------------------------------

FAULTS = {"blackhole": BLACKHOLE, "trickle": trickle(0.05)}
# dependency: (error type, what the message must name)
DEPENDENCIES = {
    "ssm": ("DependencyTimeoutError", "SSM Parameter Store"),
    "dynamodb": ("DependencyTimeoutError", "DynamoDB (delivery table"),
    "lambda": ("DependencyTimeoutError", "the extractor function 'function'"),
    "sns": ("PublishError", "SNS may have delivered the report"),
    "mysql": ("ExtractorFailedError", "did not finish answering"),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("dependency", DEPENDENCIES)
def test_a_hanging_dependency_is_named_before_the_timeout(
    stack: Stack, dependency: str, fault: str
) -> None:
    error_type, fragment = DEPENDENCIES[dependency]
    upstream = stack.extractor.endpoint_url if dependency == "lambda" else stack.moto
    if dependency == "mysql":
        upstream = f"http://{stack.server.host}:{stack.server.port}"
    with FaultProxy.to_url(upstream, default=FAULTS[fault]) as proxy:
        env = {}
        if dependency == "mysql":
            stack.put_parameters(dbUrl="127.0.0.1", dbPort=str(proxy.port))
        else:
            env[f"AWS_ENDPOINT_URL_{dependency.upper()}"] = proxy.url
        began = time.monotonic()
        invocation, output = stack.run_reporter(scheduled_event(), **env)
        elapsed = time.monotonic() - began

    assert invocation.function_error == "Unhandled", invocation.payload
    assert invocation.payload["errorType"] == error_type, invocation.payload
    assert fragment in invocation.payload["errorMessage"]
    # Returned by the function itself, with time to spare: never Lambda's "Task timed out".
    assert elapsed < REPORTER_TIMEOUT_S - 0.5, f"{elapsed:.1f} s"
    published = stack.inbox.messages(wait=0.5)
    if dependency == "sns":  # the request reached SNS before its answer hung
        assert len(published) <= 1
    else:
        assert published == []
    stack.assert_no_secret(output, json.dumps(invocation.payload))


def test_the_extractor_bounds_the_whole_database_conversation(server: Server) -> None:
    """One byte every 50 ms keeps every per-read timeout happy: only a deadline ends it."""
    from extractor.handler import lambda_handler
    from support.database import extractor_event

    class Context:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 3000

    with FaultProxy((server.host, server.port), default=trickle(0.05)) as proxy:
        event = extractor_event(server, "cafe", datetime.now(UTC).date())
        event.update(dbUrl="127.0.0.1", dbPort=proxy.port)
        began = time.monotonic()
        with pytest.raises(Exception, match=r"did not finish answering within 2\.0s") as caught:
            lambda_handler(event, Context())
        elapsed = time.monotonic() - began

    assert type(caught.value).__name__ == "DatabaseTimeoutError"
    assert elapsed < 3.0


def test_an_answer_cut_short_is_a_clear_failure_not_a_hang(stack: Stack) -> None:
    """The extractor's answer ends mid-body (a connection reset by a proxy or a NAT)."""
    with FaultProxy.to_url(stack.extractor.endpoint_url, default=cut(200)) as lam:
        began = time.monotonic()
        invocation, output = stack.run_reporter(scheduled_event(), AWS_ENDPOINT_URL_LAMBDA=lam.url)
        elapsed = time.monotonic() - began

    assert invocation.function_error == "Unhandled", invocation.payload
    assert invocation.payload["errorType"] in ("ExtractorFailedError", "DependencyTimeoutError")
    assert "extractor" in invocation.payload["errorMessage"]
    assert elapsed < REPORTER_TIMEOUT_S - 0.5, f"{elapsed:.1f} s"
    assert stack.inbox.messages(wait=0.5) == []
    stack.assert_no_secret(output, json.dumps(invocation.payload))
