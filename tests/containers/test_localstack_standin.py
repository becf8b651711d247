"""The LocalStack stand-in serves what the local stack asks of LocalStack, DynamoDB included.

The compose stack's delivery record (issue "Exactly one report per café day") lives in a
DynamoDB table on LocalStack; the stand-in answers DynamoDB through moto instead of DynamoDB
Local (which it cannot download here), so its conditional writes are checked here on their own.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from containers.suite import Standins
from support.aws import aws_client, free_port
from support.engine import docker, wait_for


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as response:  # noqa: S310
            services = json.load(response)["services"]
    except (OSError, ValueError):
        return False
    return services.get("dynamodb") in ("available", "running")


@pytest.fixture(scope="module")
def localstack(standins: Standins) -> Iterator[str]:
    port = free_port()
    name = f"cafe-ctest-localstack-{uuid.uuid4().hex[:8]}"
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--publish",
        f"127.0.0.1:{port}:4566",
        "--env",
        "SERVICES=dynamodb,sns,sqs,ssm",
        standins.localstack,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), 120, f"the LocalStack stand-in on {url}")
        yield url
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def test_localstack_standin_dynamodb_claims_a_day_once(localstack: str) -> None:
    dynamodb = aws_client("dynamodb", localstack)
    table = f"deliveries-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    claim = {
        "TableName": table,
        "Item": {"id": {"S": "topic#2026-11-27"}, "expiration": {"N": "1999999999"}},
        "ConditionExpression": "attribute_not_exists(id)",
    }
    dynamodb.put_item(**claim)
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(**claim)
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"
