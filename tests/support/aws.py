"""moto's server over real HTTP, standing in for SSM, SNS and SQS (and any other AWS API)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

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
    """Run moto's HTTP server on a free port; yield its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


@dataclass
class Inbox:
    """An SNS topic with an SQS queue subscribed, so a test can read what was published."""

    endpoint: str
    topic_arn: str
    queue_url: str

    @classmethod
    @contextlib.contextmanager
    def create(cls, endpoint: str) -> Iterator[Inbox]:
        name = f"cafe-report-{uuid.uuid4().hex[:10]}"
        sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
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
