"""The reporter's /<prefix>/db* parameters on moto's SSM, and the reporter's environment."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping

from support.aws import CREDENTIALS, aws_client, delivery_table_for
from support.database import Server


def db_settings(server: Server, database: str, user: str, password: str) -> dict[str, str]:
    """The parameters' values for `database` on `server`, as the SSM prefix holds them."""
    return {
        "dbUrl": server.host,
        "dbPort": str(server.port),
        "dbName": database,
        "dbUser": user,
        "dbPassword": password,
    }


def put_db_parameters(endpoint: str, prefix: str, values: Mapping[str, str | None]) -> None:
    """Store /<prefix>/<key> for each value (None leaves it out), dbPassword as a SecureString."""
    ssm = aws_client("ssm", endpoint)
    for key, value in values.items():
        if value is not None:
            kind = "SecureString" if key == "dbPassword" else "String"
            ssm.put_parameter(Name=f"{prefix}/{key}", Value=value, Type=kind, Overwrite=True)


@contextlib.contextmanager
def db_parameters(
    endpoint: str, server: Server, database: str, user: str, password: str
) -> Iterator[str]:
    """Store dbUrl, dbPort, dbName, dbUser and dbPassword under a new prefix; yield the prefix."""
    prefix = f"/cafe-test-{uuid.uuid4().hex[:10]}"
    values = db_settings(server, database, user, password)
    try:
        put_db_parameters(endpoint, prefix, values)
        yield prefix
    finally:
        aws_client("ssm", endpoint).delete_parameters(Names=[f"{prefix}/{key}" for key in values])


def reporter_env(moto: str, extractor_url: str, prefix: str, topic_arn: str) -> dict[str, str]:
    """The reporter's environment: settings only, endpoints by the standard variables.

    The delivery table is the one `Inbox` creates for the topic.
    """
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL_SSM": moto,
        "AWS_ENDPOINT_URL_SNS": moto,
        "AWS_ENDPOINT_URL_DYNAMODB": moto,
        "DELIVERY_TABLE": delivery_table_for(topic_arn),
        "AWS_ENDPOINT_URL_LAMBDA": extractor_url,
        "EXTRACTOR_FUNCTION_NAME": "function",
        "SSM_PREFIX": prefix,
        "topicARN": topic_arn,
        "REPORT_TIMEZONE": "UTC",
    }
