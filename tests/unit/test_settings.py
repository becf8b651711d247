"""The reporter's environment variables."""

from __future__ import annotations

import pytest

from reporter.errors import SettingsError
from reporter.settings import Settings

TOPIC = "arn:aws:sns:eu-west-3:123456789012:SalesReportTopic"


def test_settings_defaults() -> None:
    settings = Settings.from_env({"topicARN": TOPIC})
    assert settings.topic_arn == TOPIC
    assert settings.topic_region == "eu-west-3"
    assert settings.extractor_function == "salesAnalysisReportDataExtractor"
    assert settings.ssm_prefix == "/cafe"
    assert settings.timezone.key == "UTC"


def test_settings_reads_every_variable() -> None:
    settings = Settings.from_env(
        {
            "topicARN": TOPIC,
            "EXTRACTOR_FUNCTION_NAME": "function",
            "SSM_PREFIX": "cafe/prod/",
            "REPORT_TIMEZONE": "America/New_York",
        }
    )
    assert settings.extractor_function == "function"
    assert settings.ssm_prefix == "/cafe/prod"
    assert settings.timezone.key == "America/New_York"


@pytest.mark.parametrize(
    ("env", "name", "fragment"),
    [
        ({}, "topicARN", "is not set"),
        ({"topicARN": "  "}, "topicARN", "is not set"),
        ({"topicARN": "SalesReportTopic"}, "topicARN", "is not an SNS topic ARN"),
        ({"topicARN": "arn:aws:sqs:us-east-1:123456789012:q"}, "topicARN", "not an SNS topic"),
        ({"topicARN": TOPIC, "REPORT_TIMEZONE": "CET+1"}, "REPORT_TIMEZONE", "IANA"),
        ({"topicARN": TOPIC, "SSM_PREFIX": "/"}, "SSM_PREFIX", "parameter path"),
        ({"topicARN": TOPIC, "SSM_PREFIX": "/ca fe"}, "SSM_PREFIX", "parameter path"),
        ({"topicARN": TOPIC, "SSM_PREFIX": "/c" * 600}, "SSM_PREFIX", "(1200 characters)"),
        ({"topicARN": "arn:aws:sns:us-east-1:\u0661" * 12 + ":t"}, "topicARN", "not an SNS topic"),
        ({"topicARN": "x" * 1_000_000}, "topicARN", "(1000000 characters)"),
        ({"topicARN": TOPIC, "REPORT_TIMEZONE": "Europe"}, "REPORT_TIMEZONE", "not a known IANA"),
        ({"topicARN": TOPIC, "REPORT_TIMEZONE": "z" * 10_000}, "REPORT_TIMEZONE", "(10000 char"),
        ({"topicARN": TOPIC, "EXTRACTOR_FUNCTION_NAME": "my function"}, "EXTRACTOR_FUNCTION_NAME",
         "not a Lambda function name"),
        ({"topicARN": TOPIC, "EXTRACTOR_FUNCTION_NAME": "f" * 141}, "EXTRACTOR_FUNCTION_NAME",
         "not a Lambda function name"),
    ],
)  # fmt: skip
def test_settings_bad_variable_is_named(env: dict[str, str], name: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert caught.value.name == name
    assert name in str(caught.value)
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "function",
    [
        "function",
        "salesAnalysisReportDataExtractor:live",
        "123456789012:function:salesAnalysisReportDataExtractor",
        "arn:aws:lambda:eu-west-3:123456789012:function:salesAnalysisReportDataExtractor:$LATEST",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:extractor",
    ],
)
def test_settings_extractor_function_forms_lambda_accepts(function: str) -> None:
    env = {"topicARN": TOPIC, "EXTRACTOR_FUNCTION_NAME": function}
    assert Settings.from_env(env).extractor_function == function


def test_settings_topic_is_optional_when_not_publishing() -> None:
    assert Settings.from_env({}, need_topic=False).topic_arn is None


def test_aws_client_is_created_once_per_service_and_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reporter.aws import client

    # Credentials from the environment, so creating a client never asks the instance metadata.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    assert client("ssm", "eu-west-3") is client("ssm", "eu-west-3")
    assert client("ssm", "eu-west-3") is not client("sns", "eu-west-3")
    assert client("lambda", "eu-west-3").meta.config.retries["mode"] == "standard"
