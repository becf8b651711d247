"""The reporter's AWS calls: SSM for the database settings, Lambda for the rows, SNS to publish."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from .errors import ExtractorFailedError, ParameterError, PublishError
from .fields import cut
from .message import SnsMessage
from .settings import db_parameters

# Per-read socket timeouts, and the SDK's standard retries (backoff on throttling and transient
# faults) for the calls that may safely run twice. Each call's overall limit comes from the
# invocation's deadline (deadline.py), which also cuts these retries short.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)
_CONFIGS = {
    # The extractor answers when its query is done: the deadline bounds the wait, not a read.
    "lambda": _CONFIG.merge(Config(read_timeout=900)),
    "dynamodb": _CONFIG.merge(Config(read_timeout=2)),
    # Never retried by the SDK: a publish that timed out may have reached SNS, and a second
    # attempt would email the report twice. publish() retries only what surely did not.
    "sns": _CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1})),
}
# Publish failures that prove SNS did not take the message, so trying again is safe.
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)
_THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequests"}
_PUBLISH_ATTEMPTS = 3
_REQUIRED = ("dbUrl", "dbName", "dbUser", "dbPassword")
_OPTIONAL = ("dbPort", "dbSslMode", "dbSslCa")


@functools.cache
def client(service: str, region: str | None = None) -> Any:
    """One boto3 client per service and region for the container's lifetime (warm starts reuse)."""
    config = _CONFIGS.get(service, _CONFIG)
    return boto3.client(service, region_name=region, config=config)


@dataclass(frozen=True)
class DbSettings:
    """The extractor's connection settings, as stored under the SSM prefix."""

    url: str
    name: str
    user: str
    password: str = field(repr=False)
    port: int | None = None
    ssl_mode: str | None = None  # None: the extractor's default (VERIFY_IDENTITY with its bundle)
    ssl_ca: str | None = None

    def event(self, day: date, timezone: str) -> dict[str, Any]:
        """The extractor's invocation event: these settings plus the day to report."""
        event: dict[str, Any] = {
            "dbUrl": self.url,
            "dbName": self.name,
            "dbUser": self.user,
            "dbPassword": self.password,
        }
        optional = {"dbPort": self.port, "dbSslMode": self.ssl_mode, "dbSslCa": self.ssl_ca}
        event.update({key: value for key, value in optional.items() if value is not None})
        return {**event, "reportDate": day.isoformat(), "timezone": timezone}


def read_db_settings(ssm: Any, prefix: str) -> DbSettings:
    """Read /<prefix>/dbUrl, dbName, dbUser, dbPassword (decrypted) and the optional dbPort,
    dbSslMode and dbSslCa, in one call.

    Raises ParameterError naming every missing parameter.
    """
    names = {f"{prefix}/{key}": key for key in (*_REQUIRED, *_OPTIONAL)}
    try:
        response = ssm.get_parameters(Names=list(names), WithDecryption=True)
    except (ClientError, BotoCoreError) as exc:
        raise ParameterError(
            f"cannot read SSM parameters under {prefix}: {_describe(exc)}: check the reporter "
            f"role may ssm:GetParameters on {prefix}/* (and kms:Decrypt for SecureStrings)"
        ) from exc
    values = {names[p["Name"]]: p["Value"] for p in response.get("Parameters", [])}
    missing = [f"{prefix}/{key}" for key in _REQUIRED if key not in values]
    if missing:
        raise ParameterError(
            f"missing SSM parameter(s) {', '.join(missing)}: create them (dbPassword as a "
            "SecureString), e.g. with deploy.sh, or point SSM_PREFIX at where they are"
        )
    return DbSettings(**db_parameters(prefix, values))


def invoke_extractor(lambda_client: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke the extractor synchronously; return its result or raise ExtractorFailedError.

    A failed invocation still returns normally from `invoke`: check FunctionError, and also
    the payload's shape, since the local runtime emulator omits that header.
    """
    try:
        response = lambda_client.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode("utf-8"),
        )
        raw = response["Payload"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ExtractorFailedError(
            f"cannot invoke the extractor function {function!r}: {_describe(exc)}: check "
            "EXTRACTOR_FUNCTION_NAME and that the reporter role may lambda:InvokeFunction on it"
        ) from exc
    return parse_extractor_result(function, response.get("FunctionError"), raw)


def parse_extractor_result(function: str, function_error: str | None, raw: bytes) -> dict:
    """Check one extractor response; return it, or raise with the extractor's own message."""
    try:
        result = json.loads(raw) if raw else None
    except ValueError:
        result = None
    if isinstance(result, dict) and (function_error or "errorMessage" in result):
        error_type = str(result.get("errorType") or "Error")
        raise ExtractorFailedError(
            f"the extractor {function!r} failed: {cut(error_type)}: "
            f"{cut(str(result.get('errorMessage')))}",
            error_type=error_type,
        )
    if function_error or not isinstance(result, dict):
        raise ExtractorFailedError(
            f"the extractor {function!r} failed ({function_error or 'no usable answer'}) and "
            f"returned {len(raw)} bytes that are not its error JSON: see its log group"
        )
    if result.get("statusCode") != 200 or not isinstance(result.get("body"), list):
        raise ExtractorFailedError(
            f"the extractor {function!r} answered without statusCode 200 and a list body: "
            "are the reporter and extractor images from the same release?"
        )
    return result


def publish(sns: Any, topic_arn: str, message: SnsMessage) -> str:
    """Publish the report; return the SNS message id or raise PublishError.

    Tried again only when SNS surely did not take the message (no connection, throttled).
    PublishError.uncertain says whether it may have been delivered despite the error.
    """
    for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
        try:
            response = sns.publish(
                TopicArn=topic_arn,
                Subject=message.subject,
                Message=message.structure,
                MessageStructure="json",
            )
        except (ClientError, BotoCoreError) as exc:
            if attempt < _PUBLISH_ATTEMPTS and _surely_not_sent(exc):
                time.sleep(0.2 * 2**attempt)
                continue
            raise _publish_error(topic_arn, exc) from exc
        return str(response["MessageId"])
    raise AssertionError("unreachable: the last attempt returns or raises")


def _surely_not_sent(exc: BotoCoreError | ClientError) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _THROTTLED
    return isinstance(exc, _NOT_SENT)


def _publish_error(topic_arn: str, exc: BotoCoreError | ClientError) -> PublishError:
    # A 4xx answer is SNS refusing the message; no connection means it never got it. Anything
    # else (a read timeout, a dropped connection, a 5xx) leaves the outcome unknown.
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
        uncertain = status >= 500
    else:
        uncertain = not isinstance(exc, _NOT_SENT)
    if uncertain:
        return PublishError(
            f"publishing the report to {topic_arn} failed after it was sent ({_describe(exc)}):"
            " SNS may have delivered the report; a retry will publish it again (see README,"
            " Troubleshooting: possible second copy)",
            uncertain=True,
        )
    return PublishError(
        f"cannot publish the report to {topic_arn}: {_describe(exc)}: check that the topic "
        "exists (topicARN) and that the reporter role may sns:Publish to it"
    )


def _describe(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)
