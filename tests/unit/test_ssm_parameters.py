"""The database settings read from SSM: each bad value refused by its parameter's name."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from reporter.aws import DbSettings, read_db_settings
from reporter.errors import ParameterError
from reporter.settings import db_parameters

PASSWORD = "s3cret-\u20ac-pw"
GOOD = {
    "dbUrl": "cafe-db.abc123.us-east-1.rds.amazonaws.com",
    "dbName": "cafe_db",
    "dbUser": "admin",
    "dbPassword": "not-a-real-password",
}


class Ssm:
    """A stand-in for boto3's SSM client: get_parameters over a dict (unit tests only)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get_parameters(self, Names: list[str], WithDecryption: bool) -> dict[str, Any]:
        assert WithDecryption
        found = [{"Name": n, "Value": self.values[n]} for n in Names if n in self.values]
        return {"Parameters": found}


def read(values: dict[str, str]) -> DbSettings:
    return read_db_settings(Ssm({f"/cafe/{k}": v for k, v in values.items()}), "/cafe")


def test_read_db_settings_reads_and_strips_the_values() -> None:
    settings = read({**GOOD, "dbPort": " 3307\n", "dbUser": " admin "})
    assert (settings.url, settings.name, settings.user, settings.port) == (
        GOOD["dbUrl"],
        "cafe_db",
        "admin",
        3307,
    )
    assert settings.password == GOOD["dbPassword"]
    assert read(GOOD).port is None


@pytest.mark.parametrize(
    ("changes", "parameter", "fragment"),
    [
        ({"dbPort": "\u0663\u0663\u0660\u0666"}, "dbPort", "ASCII digits"),  # once a ValueError
        ({"dbPort": "0"}, "dbPort", "1 to 65535"),
        ({"dbPort": "65536"}, "dbPort", "1 to 65535"),
        ({"dbUrl": "a" * 64 + ".rds.amazonaws.com"}, "dbUrl", "labels of 1 to 63"),
        ({"dbUrl": "mysql://db/cafe"}, "dbUrl", "without a scheme"),
        ({"dbUrl": "db:0"}, "dbUrl", "port after ':'"),
        ({"dbName": "d" * 65}, "dbName", "at most 64"),
        ({"dbUser": "u" * 4096}, "dbUser", "(4096 characters)"),
        ({"dbUser": "   "}, "dbUser", "non-empty"),
        ({"dbPassword": PASSWORD}, "dbPassword", "cannot send"),
    ],
)
def test_read_db_settings_names_the_bad_parameter(
    changes: dict[str, str], parameter: str, fragment: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        read({**GOOD, **changes})
    message = str(caught.value)
    assert message.startswith(f"SSM parameter /cafe/{parameter} ")
    assert fragment in message
    assert len(message) < 300
    for leak in ("\u20ac", "s3c", "pw", "position", str(len(PASSWORD))):
        assert leak not in message


def test_db_parameters_passes_the_url_as_written_for_the_extractor() -> None:
    checked = db_parameters("/cafe", {**GOOD, "dbUrl": " db.internal:3310 "})
    assert checked["url"] == "db.internal:3310"
    assert checked["port"] is None


def test_tls_settings_pass_from_ssm_to_the_extractors_event() -> None:
    settings = read({**GOOD, "dbSslMode": "verify-ca", "dbSslCa": "/var/task/certs/own.pem"})
    event = settings.event(date(2026, 11, 30), "UTC")
    assert (event["dbSslMode"], event["dbSslCa"]) == ("VERIFY_CA", "/var/task/certs/own.pem")


def test_without_tls_settings_the_event_leaves_them_to_the_extractor() -> None:
    event = read(GOOD).event(date(2026, 11, 30), "UTC")
    assert "dbSslMode" not in event
    assert "dbSslCa" not in event


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("dbSslMode", "verify", "VERIFY_IDENTITY (MySQL's --ssl-mode)"),
        ("dbSslCa", "certs/rds.pem", "absolute path"),
    ],
)
def test_bad_tls_settings_are_named(key: str, value: str, fragment: str) -> None:
    with pytest.raises(ParameterError, match=f"/cafe/{key}") as caught:
        read({**GOOD, key: value})
    assert fragment in str(caught.value)
