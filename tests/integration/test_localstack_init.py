"""The LocalStack ready hook (docker/localstack/ready.d), run for real against moto's server.

LocalStack cannot run here; moto speaks the same AWS APIs. A stand-in `awslocal` on PATH sends
the hook's AWS CLI calls to moto, as the real one sends them to LocalStack. The hook runs twice
per module, with names of its own (it takes them from its environment), removed afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.aws import CREDENTIALS, aws_client
from support.tools import REPO_ROOT, aws_cli, run

HOOKS = REPO_ROOT / "docker" / "localstack" / "ready.d"
HOOK = HOOKS / "01-cafe.sh"
PARAMETERS = ("dbUrl", "dbName", "dbUser", "dbPassword", "dbSslMode")


@dataclass
class Hooked:
    """What the hook was told to create, and what its second run printed."""

    topic: str
    queue: str
    prefix: str
    email: str
    table: str
    rerun_output: str = ""

    def topic_arn(self, sns: Any) -> str:
        [arn] = [
            t["TopicArn"]
            for t in sns.list_topics()["Topics"]
            if t["TopicArn"].endswith(f":{self.topic}")
        ]
        return arn


def run_hook(bin_dir: Path, endpoint: str, settings: dict[str, str]) -> str:
    """Run the hook as LocalStack does (executed directly), with awslocal going to moto."""
    awslocal = bin_dir / "awslocal"
    awslocal.write_text(f'#!/bin/sh\nexec "{aws_cli()}" --endpoint-url "$ENDPOINT" "$@"\n')
    awslocal.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir), "ENDPOINT": endpoint}
    result = run([HOOK], env={**env, **CREDENTIALS, **settings})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def hooked(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooked]:
    """The hook run twice, the second time with a changed password (an edited .env)."""
    suffix = uuid.uuid4().hex[:10]
    names = Hooked(
        f"SalesReportTopic-{suffix}",
        f"inbox-{suffix}",
        f"/cafe-{suffix}",
        f"o-{suffix}@cafe.test",
        f"deliveries-{suffix}",
    )
    settings = {
        "CAFE_DB_HOST": "db",
        "CAFE_DB_NAME": "cafe",
        "CAFE_DB_USER": "cafe",
        "CAFE_REPORT_EMAIL": names.email,
        "CAFE_TOPIC_NAME": names.topic,
        "CAFE_INBOX_QUEUE": names.queue,
        "CAFE_SSM_PREFIX": names.prefix,
        "CAFE_DELIVERY_TABLE": names.table,
    }
    bin_dir = tmp_path_factory.mktemp("bin")
    sns, sqs, ssm = (aws_client(s, moto_endpoint) for s in ("sns", "sqs", "ssm"))
    try:
        run_hook(bin_dir, moto_endpoint, {**settings, "CAFE_DB_PASSWORD": "first"})
        names.rerun_output = run_hook(
            bin_dir, moto_endpoint, {**settings, "CAFE_DB_PASSWORD": "second"}
        )
        yield names
    finally:
        for topic in sns.list_topics()["Topics"]:
            if topic["TopicArn"].endswith(f":{names.topic}"):
                sns.delete_topic(TopicArn=topic["TopicArn"])
        for url in sqs.list_queues(QueueNamePrefix=names.queue).get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)
        ssm.delete_parameters(Names=[f"{names.prefix}/{key}" for key in PARAMETERS])
        dynamodb = aws_client("dynamodb", moto_endpoint)
        if names.table in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=names.table)


def queue_attributes(moto_endpoint: str, hooked: Hooked) -> dict[str, str]:
    sqs = aws_client("sqs", moto_endpoint)
    url = sqs.get_queue_url(QueueName=hooked.queue)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_localstack_hook_stores_the_database_parameters(moto_endpoint: str, hooked: Hooked) -> None:
    parameters = aws_client("ssm", moto_endpoint).get_parameters(
        Names=[f"{hooked.prefix}/{key}" for key in PARAMETERS], WithDecryption=True
    )["Parameters"]
    found = {p["Name"].rsplit("/", 1)[1]: (p["Type"], p["Value"]) for p in parameters}
    assert found == {
        "dbUrl": ("String", "db"),
        "dbName": ("String", "cafe"),
        "dbUser": ("String", "cafe"),
        "dbPassword": ("SecureString", "second"),  # the re-run updated it
        "dbSslMode": ("String", "PREFERRED"),  # the local MySQL's certificate is self-signed
    }


def test_localstack_hook_creates_the_delivery_table_once(
    moto_endpoint: str, hooked: Hooked
) -> None:
    dynamodb = aws_client("dynamodb", moto_endpoint)
    table = dynamodb.describe_table(TableName=hooked.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    ttl = dynamodb.describe_time_to_live(TableName=hooked.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")
    assert f"DELIVERY_TABLE={hooked.table}" in hooked.rerun_output


def test_localstack_hook_subscribes_the_email_and_the_inbox_once(
    moto_endpoint: str, hooked: Hooked
) -> None:
    sns = aws_client("sns", moto_endpoint)
    queue_arn = queue_attributes(moto_endpoint, hooked)["QueueArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=hooked.topic_arn(sns))
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]) == [
        ("email", hooked.email),
        ("sqs", queue_arn),
    ]
    assert hooked.rerun_output.count("subscribed already") == 2


def test_localstack_hook_lets_the_topic_send_to_the_inbox(
    moto_endpoint: str, hooked: Hooked
) -> None:
    attributes = queue_attributes(moto_endpoint, hooked)
    topic_arn = hooked.topic_arn(aws_client("sns", moto_endpoint))
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": attributes["QueueArn"],
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }


def test_localstack_hook_delivers_a_publish_to_the_inbox(
    moto_endpoint: str, hooked: Hooked
) -> None:
    sns, sqs = aws_client("sns", moto_endpoint), aws_client("sqs", moto_endpoint)
    message_id = sns.publish(TopicArn=hooked.topic_arn(sns), Message="hello")["MessageId"]
    queue_url = sqs.get_queue_url(QueueName=hooked.queue)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    assert json.loads(message["Body"])["MessageId"] == message_id


def test_localstack_hook_fails_clearly_without_database_settings() -> None:
    result = run([HOOK], env={"PATH": "/usr/bin:/bin", "CAFE_DB_HOST": "db"})
    assert result.returncode != 0
    assert "CAFE_DB_NAME" in result.stderr


def test_localstack_hooks_are_executable_scripts() -> None:
    # LocalStack runs each ready.d/*.sh directly: it needs the executable bit and a shebang.
    hooks = sorted(HOOKS.glob("*.sh"))
    assert hooks == [HOOK]
    for hook in hooks:
        assert os.access(hook, os.X_OK)
        assert hook.read_text(encoding="utf-8").startswith("#!")
