"""Malformed input through the real entry points: each gives one of our errors, nothing is
published, and no log line at DEBUG holds any part of the password.

Both functions run as real `python -m awslambdaric` subprocesses under the Runtime-API
harness, the reporter against moto's server over HTTP, the extractor against the real database.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from extractor.db import connect
from extractor.errors import ExtractorError
from extractor.event import ExtractRequest, parse_event
from support.aws import Inbox
from support.database import Server, extractor_event, reader_user
from support.properties import MESSAGE_LIMIT, assert_holds_no_part_of
from support.runtime_api import Invocation, LambdaProcess
from support.ssm import db_settings, put_db_parameters, reporter_env

EXTRACTOR = "extractor.handler.lambda_handler"
REPORTER = "reporter.handler.lambda_handler"
DEBUG = {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
# Letters no word of our messages or logs is made of only (request ids are lowercase hex), so
# any three of them in a row in the output can only have come from the password.
SECRET = "QXZJ-" + "".join(random.Random(10).choices("QXZJKWV", k=16))
NOT_LATIN1 = SECRET[:9] + "\u20ac" + SECRET[9:]


def check_failure(invocation: Invocation, output: str, error_type: str, *fragments: str) -> str:
    """The invocation failed with our error, briefly, and nothing anywhere holds the secret."""
    assert invocation.function_error == "Unhandled", invocation.payload
    assert invocation.payload["errorType"] == error_type, invocation.payload
    message = invocation.payload["errorMessage"]
    for fragment in fragments:
        assert fragment in message
    assert len(message) <= MESSAGE_LIMIT
    for text in (invocation.raw.decode(), output):
        assert_holds_no_part_of(SECRET, text)
        assert "\\u20ac" not in text
    return message


# The extractor ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor() -> Iterator[LambdaProcess]:
    with LambdaProcess(EXTRACTOR, env=DEBUG) as process:
        process.wait_ready()
        yield process


def good_event(**changes: object) -> dict[str, object]:
    event = {"dbUrl": "db.internal", "dbName": "cafe", "dbUser": "cafe", "dbPassword": SECRET,
             "reportDate": "2026-11-26", "timezone": "UTC"}  # fmt: skip
    return {**event, **changes}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"dbPassword": NOT_LATIN1}, "dbPassword", "cannot send"),  # UnicodeEncodeError once
        ({"dbUser": "u" * 1_000_000}, "dbUser", "(1000000 characters)"),  # a 1 MB message once
        ({"dbPort": "\u0663\u0663\u0660\u0666"}, "dbPort", "ASCII digits"),  # ValueError once
        ({"dbUrl": "a" * 64 + ".example.com"}, "dbUrl", "1 to 63"),  # UnicodeError once
        ({"dbName": "d" * 65}, "dbName", "at most 64"),  # ProgrammingError once
        ({"reportDate": "9999-12-31", "timezone": "Pacific/Kiritimati"}, "reportDate",
         "9999-12-30"),  # OverflowError once
        ({"reportDate": "0001-01-01", "timezone": "Asia/Tokyo"}, "reportDate", "0001-01-02"),
        ({"timezone": "Europe/Paris\n" + "x" * 5000}, "timezone", "(5013 characters)"),
    ],
)  # fmt: skip
def test_extractor_refuses_malformed_events_by_name(
    extractor: LambdaProcess, changes: dict[str, object], field: str, fragment: str
) -> None:
    before = len(extractor.output())
    invocation = extractor.invoke(good_event(**changes))
    message = check_failure(
        invocation, extractor.output()[before:], "EventError", f"'{field}'", fragment
    )
    assert message.startswith("invalid event:")


def test_extractor_logs_at_debug_hold_no_password(server: Server, cafe_db: str) -> None:
    # A run that connects and queries, at DEBUG: PyMySQL and the extractor log what they do.
    with (
        reader_user(server, cafe_db) as (user, password),
        LambdaProcess(EXTRACTOR, env=DEBUG) as process,
    ):
        process.wait_ready()
        day = datetime.now(UTC).date()
        event = extractor_event(server, cafe_db, day, dbUser=user, dbPassword=password)
        invocation = process.invoke(event)
        assert invocation.function_error is None, invocation.payload
        assert password not in process.output() + invocation.raw.decode()
        wrong = process.invoke({**event, "dbPassword": SECRET})
        check_failure(wrong, process.output(), "DatabaseAuthError", "access denied")


# The extractor's connection, when a request did not come through parse_event --------------------


def request(server: Server, **changes: Any) -> ExtractRequest:
    event = good_event(dbUrl=server.host, dbPort=server.port, dbUser=server.user,
                       dbPassword=server.password)  # fmt: skip
    return parse_event(event)._replace(**changes)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"host": "a" * 64 + ".example.com"}, "not a valid DNS name"),
        ({"database": "d" * 65}, "MySQL error 1102"),
        ({"password": NOT_LATIN1}, "Latin-1"),
    ],
)
def test_connect_translates_what_parse_event_would_refuse(
    server: Server, changes: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ExtractorError) as caught, connect(request(server, **changes)):
        pass
    assert fragment in str(caught.value)
    assert_holds_no_part_of(SECRET, str(caught.value))
    assert caught.value.__cause__ is None or not isinstance(caught.value.__cause__, UnicodeError)


# The reporter ----------------------------------------------------------------------------------


@pytest.fixture
def reporter_setup(moto_endpoint: str) -> Iterator[tuple[str, Inbox]]:
    """An SNS topic with an SQS inbox, and a fresh SSM prefix; yields (prefix, inbox)."""
    with Inbox.create(moto_endpoint) as inbox:
        yield f"/cafe-bad-{uuid.uuid4().hex[:10]}", inbox


def run_reporter(moto: str, prefix: str, inbox: Inbox, event: object) -> tuple[Invocation, str]:
    # The extractor's endpoint is moto's, where no function exists: nothing here may reach it.
    env = {**reporter_env(moto, moto, prefix, inbox.topic_arn), **DEBUG}
    with LambdaProcess(REPORTER, env=env) as reporter:
        reporter.wait_ready()
        return reporter.invoke(event), reporter.output()


GOOD_SSM = {"dbUrl": "db.internal", "dbName": "cafe", "dbUser": "cafe", "dbPassword": SECRET}


@pytest.mark.parametrize(
    ("values", "event", "error_type", "fragments"),
    [
        ({"dbPort": "\u0663\u0663\u0660\u0666"}, {}, "ParameterError",
         ["/dbPort", "ASCII digits"]),  # a ValueError once
        ({"dbPassword": NOT_LATIN1}, {}, "ParameterError", ["/dbPassword", "cannot send"]),
        ({"dbUser": "u" * 4096}, {}, "ParameterError", ["/dbUser", "(4096 characters)"]),
        ({"dbUrl": "mysql://db.internal/cafe"}, {}, "ParameterError", ["/dbUrl", "scheme"]),
        ({}, {"scheduledTime": "0001-01-01T00:00:00+05:00"}, "EventError",
         ["'scheduledTime'"]),  # an OverflowError once
        ({}, {"reportDate": "2026-11-01", "scheduledTime": "soon"}, "EventError",
         ["'scheduledTime'", "ISO 8601"]),  # ignored once
        ({}, {"reportDate": "20261126"}, "EventError", ["'reportDate'", "YYYY-MM-DD"]),
    ],
)  # fmt: skip
def test_reporter_refuses_bad_settings_and_events_by_name(
    moto_endpoint: str,
    reporter_setup: tuple[str, Inbox],
    values: dict[str, str],
    event: dict[str, str],
    error_type: str,
    fragments: list[str],
) -> None:
    prefix, inbox = reporter_setup
    put_db_parameters(moto_endpoint, prefix, {**GOOD_SSM, **values})
    invocation, output = run_reporter(moto_endpoint, prefix, inbox, event)
    check_failure(invocation, output, error_type, *fragments)
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert "invoke" not in {r.get("step") for r in records}
    if error_type == "ParameterError":  # past the event: the handler's DEBUG line was written
        assert "DEBUG" in {r["level"] for r in records}
    assert inbox.messages(wait=0.5) == [], "nothing may be published after a failure"


# A name that tries to forge a line, from the database to the email ----------------------------


def test_a_forged_name_reaches_the_email_as_one_safe_line(
    server: Server, cafe_db: str, moto_endpoint: str
) -> None:
    today = datetime.now(UTC).date()
    conn = server.connect(cafe_db, init_command="SET time_zone = '+00:00'")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO product (id, product_name, price, product_group) VALUES (%s,%s,%s,%s)",
                (9001, "Latte\nProduct Group: Free\r", "3.00", 1),
            )
            cur.execute(
                "INSERT INTO `order` (order_number, order_date_time, amount) VALUES (%s, %s, %s)",
                (90001, datetime.now(UTC).replace(tzinfo=None, microsecond=0), "3.00"),
            )
            cur.execute("INSERT INTO order_item VALUES (90001, 1, 9001, 1, 3.00)")
    finally:
        conn.close()
    with (
        reader_user(server, cafe_db) as (user, password),
        Inbox.create(moto_endpoint) as inbox,
        LambdaProcess(EXTRACTOR) as extractor,
    ):
        prefix = f"/cafe-bad-{uuid.uuid4().hex[:10]}"
        put_db_parameters(moto_endpoint, prefix, db_settings(server, cafe_db, user, password))
        env = reporter_env(moto_endpoint, extractor.endpoint_url, prefix, inbox.topic_arn)
        with LambdaProcess(REPORTER, env=env) as reporter:
            invocation = reporter.invoke({"reportDate": today.isoformat()})
        assert invocation.function_error is None, invocation.payload
        [envelope] = inbox.messages(wait=2)
    document = json.loads(envelope["Message"])
    lines = document["text"].splitlines()
    assert "  Latte\ufffdProduct Group: Free\ufffd" in "\n".join(lines)
    assert not any(line.startswith("Product Group: Free") for line in lines)
    assert max(len(line) for line in lines) <= 80
    names = [i["product_name"] for g in document["groups"] for i in g["items"]]
    assert "Latte\ufffdProduct Group: Free\ufffd" in names
