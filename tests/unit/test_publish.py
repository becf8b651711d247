"""Publishing: the SDK never retries it; we retry only what surely did not reach SNS."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from reporter import aws
from reporter.errors import PublishError
from reporter.message import SnsMessage

TOPIC = "arn:aws:sns:us-east-1:123456789012:SalesReportTopic"
MESSAGE = SnsMessage("Daily Sales Analysis Report 2026-11-30", "{}", "text", "full", 0, 0)


def client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Publish")


class StubSns:
    """Raises the given errors in turn, then answers with a message id."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def publish(self, **kwargs: object) -> dict[str, str]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"MessageId": "m-1"}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws.time, "sleep", lambda seconds: None)


def test_the_sdk_never_retries_a_publish() -> None:
    assert aws._CONFIGS["sns"].retries == {"mode": "standard", "total_max_attempts": 1}


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com"),
        client_error("Throttling", 400),
    ],
    ids=["no-connection", "throttled"],
)
def test_a_publish_that_surely_did_not_reach_sns_is_tried_again(error: Exception) -> None:
    sns = StubSns(error)
    assert aws.publish(sns, TOPIC, MESSAGE) == "m-1"
    assert sns.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://sns.us-east-1.amazonaws.com"),
        client_error("InternalError", 500),
    ],
    ids=["read-timeout", "closed", "5xx"],
)
def test_a_publish_that_may_have_reached_sns_is_not_tried_again(error: Exception) -> None:
    sns = StubSns(error)
    with pytest.raises(PublishError, match="SNS may have delivered the report") as caught:
        aws.publish(sns, TOPIC, MESSAGE)
    assert caught.value.uncertain is True
    assert sns.calls == 1


def test_a_refused_publish_is_certain_and_names_the_fix() -> None:
    sns = StubSns(client_error("AuthorizationError", 403))
    with pytest.raises(PublishError, match="sns:Publish") as caught:
        aws.publish(sns, TOPIC, MESSAGE)
    assert caught.value.uncertain is False
    assert sns.calls == 1


def test_throttling_that_lasts_gives_up_after_three_attempts() -> None:
    sns = StubSns(*[client_error("Throttling", 400)] * 5)
    with pytest.raises(PublishError, match="Throttling") as caught:
        aws.publish(sns, TOPIC, MESSAGE)
    assert caught.value.uncertain is False
    assert sns.calls == 3
