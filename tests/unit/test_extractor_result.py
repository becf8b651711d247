"""How the reporter reads the extractor's answer, from real Lambda or the local emulator."""

from __future__ import annotations

import json

import pytest

from reporter.aws import DbSettings, parse_extractor_result
from reporter.errors import ExtractorFailedError

ERROR = {
    "errorMessage": "access denied for user 'cafe' on db.internal: check /cafe/dbPassword",
    "errorType": "DatabaseAuthError",
    "requestId": "f00",
    "stackTrace": ["..."],
}


def test_parse_extractor_result_returns_a_good_answer() -> None:
    good = {"statusCode": 200, "reportDate": "2026-11-27", "body": []}
    assert parse_extractor_result("x", None, json.dumps(good).encode()) == good


@pytest.mark.parametrize("function_error", ["Unhandled", None])  # None: the emulator's way
def test_parse_extractor_result_carries_the_extractors_message(
    function_error: str | None,
) -> None:
    with pytest.raises(ExtractorFailedError) as caught:
        parse_extractor_result("extractor", function_error, json.dumps(ERROR).encode())
    assert caught.value.error_type == "DatabaseAuthError"
    assert "access denied for user 'cafe'" in str(caught.value)
    assert "'extractor' failed" in str(caught.value)


@pytest.mark.parametrize(
    ("function_error", "raw", "fragment"),
    [
        (None, b"", "no usable answer"),  # the emulator's empty reply when the runtime died
        ("Unhandled", b"not json", "Unhandled"),
        (None, b"[1, 2]", "no usable answer"),
        (None, json.dumps({"statusCode": 500, "body": []}).encode(), "statusCode 200"),
        (None, json.dumps({"statusCode": 200, "body": "x"}).encode(), "a list body"),
    ],
)
def test_parse_extractor_result_rejects_an_unusable_answer(
    function_error: str | None, raw: bytes, fragment: str
) -> None:
    with pytest.raises(ExtractorFailedError, match=fragment):
        parse_extractor_result("extractor", function_error, raw)


def test_db_settings_event_carries_the_day_and_never_shows_the_password() -> None:
    settings = DbSettings(url="h", name="d", user="u", password="s3cret-pw", port=3307)
    from datetime import date

    assert settings.event(date(2026, 11, 27), "Europe/Paris") == {
        "dbUrl": "h",
        "dbName": "d",
        "dbUser": "u",
        "dbPassword": "s3cret-pw",
        "dbPort": 3307,
        "reportDate": "2026-11-27",
        "timezone": "Europe/Paris",
    }
    assert "s3cret-pw" not in repr(settings)
