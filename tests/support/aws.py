"""moto's server over real HTTP, standing in for SSM, SNS and SQS (and any other AWS API)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

REGION = "us-east-1"
# Dummy credentials: moto accepts any, and real ones from the developer's machine never leak in.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's HTTP server on a free port; yield its endpoint URL.

    Unlike moto's ThreadedMotoServer, DynamoDB requests are served one at a time: moto checks a
    condition and then writes, so two concurrent conditional writes could both succeed, which
    DynamoDB itself never allows for one item (tests/integration/test_delivery.py relies on it).
    """
    app = _DynamoDBWritesInTurn(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


class _DynamoDBWritesInTurn:
    """A WSGI wrapper that serves DynamoDB requests under one lock, others as they come."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return self.app(environ, start_response)


def aws_client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


def create_delivery_table(endpoint: str, name: str) -> None:
    """The reporter's delivery table, as infra/template.yaml defines it (key `id`, TTL)."""
    dynamodb = aws_client("dynamodb", endpoint)
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )


def delivery_table_for(topic_arn: str) -> str:
    """The delivery table an Inbox made for its topic: it has the topic's name."""
    return topic_arn.rsplit(":", 1)[1]


@dataclass
class Inbox:
    """An SNS topic with an SQS queue subscribed, so a test can read what was published, and
    the reporter's delivery table for it (named as the topic: `delivery_table_for`)."""

    endpoint: str
    topic_arn: str
    queue_url: str

    @property
    def delivery_table(self) -> str:
        return delivery_table_for(self.topic_arn)

    @classmethod
    @contextlib.contextmanager
    def create(cls, endpoint: str) -> Iterator[Inbox]:
        name = f"cafe-report-{uuid.uuid4().hex[:10]}"
        sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
        create_delivery_table(endpoint, name)
        topic_arn = sns.create_topic(Name=name)["TopicArn"]
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        try:
            yield cls(endpoint, topic_arn, queue_url)
        finally:
            sns.delete_topic(TopicArn=topic_arn)
            sqs.delete_queue(QueueUrl=queue_url)
            aws_client("dynamodb", endpoint).delete_table(TableName=name)

    def messages(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """The SNS envelopes delivered so far (waiting up to `wait` seconds for a first one)."""
        sqs = aws_client("sqs", self.endpoint)
        deadline = time.monotonic() + wait
        found: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            found += [json.loads(m["Body"]) for m in batch.get("Messages", [])]
            if not batch.get("Messages") and (found or time.monotonic() >= deadline):
                return found
            if not batch.get("Messages"):
                time.sleep(0.1)
