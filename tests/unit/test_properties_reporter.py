"""Properties of the reporter's entry points: the event, the environment, the SSM values and
the command line each give a valid result or one of our errors, of bounded length, and none
says anything of the password. (Examples are fixed: tests/support/properties.py.)"""

from __future__ import annotations

import contextlib
import io
import string
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import hypothesis
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reporter import cli
from reporter.errors import EventError, ParameterError, ReporterError, SettingsError
from reporter.event import requested_date
from reporter.settings import Settings, db_parameters
from support.properties import (
    MESSAGE_LIMIT,
    assert_holds_no_part_of,
    json_values,
    mostly,
    shadow,
)

NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
TOPIC = "arn:aws:sns:eu-west-3:123456789012:SalesReportTopic"


instants = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=st.timezones()
).map(lambda moment: moment.isoformat())
passwords = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.ascii_letters + string.digits + "\u20ac\u00e9@:/%-", min_size=3,
            max_size=40),
)  # fmt: skip


# The event ------------------------------------------------------------------------------------


@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "reportDate": st.one_of(
                    st.dates().map(date.isoformat), st.text(max_size=30), json_values
                ),
                "scheduledTime": st.one_of(instants, st.text(max_size=40), json_values),
                "resend": json_values,
            },
        ),
    )
)
@example({"scheduledTime": "0001-01-01T00:00:00+05:00"})  # an OverflowError once
@example({"scheduledTime": "9999-12-31T23:00:00-05:00"})
@example({"reportDate": "2026-11-01", "scheduledTime": "soon"})  # ignored once
def test_requested_date_is_a_past_day_or_our_error(event: object) -> None:
    try:
        day = requested_date(event, PARIS, now=NOW)
    except EventError as exc:
        error = exc
    else:
        error = None
    hypothesis.event("refused" if error else "accepted")
    if error is not None:
        assert isinstance(event, dict)
        assert error.field in event
        assert len(str(error)) <= MESSAGE_LIMIT
        return
    assert date(1, 1, 2) <= day <= date(2026, 11, 28)
    if isinstance(event, dict) and "reportDate" in event:
        assert day.isoformat() == event["reportDate"]


# The environment ------------------------------------------------------------------------------

NAMES = ["topicARN", "EXTRACTOR_FUNCTION_NAME", "SSM_PREFIX", "REPORT_TIMEZONE"]


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "topicARN": mostly(st.just(TOPIC), st.text(max_size=300)),
            "EXTRACTOR_FUNCTION_NAME": mostly(
                st.sampled_from(["function", "extractor:live"]), st.text(max_size=200)
            ),
            "SSM_PREFIX": mostly(st.sampled_from(["/cafe", "cafe/prod/"]), st.text(max_size=50)),
            "REPORT_TIMEZONE": mostly(
                st.sampled_from(["Europe/Paris", "UTC", ""]), st.text(max_size=100)
            ),
        },
    )
)
def test_settings_from_env_are_valid_or_our_error(env: dict[str, str]) -> None:
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        error = exc
    else:
        error = None
    hypothesis.event("refused" if error else "accepted")
    if error is not None:
        assert error.name in NAMES
        assert len(str(error)) <= MESSAGE_LIMIT
        return
    assert settings.topic_region == "eu-west-3" or settings.topic_arn != TOPIC
    assert settings.ssm_prefix.startswith("/")
    assert len(settings.extractor_function) <= 140


# The SSM values -------------------------------------------------------------------------------

ssm_values = st.fixed_dictionaries(
    {
        "dbUrl": st.one_of(st.sampled_from(["db.internal", "db:3307", "[::1]"]), st.text()),
        "dbName": st.one_of(st.just("cafe"), st.text(max_size=80)),
        "dbUser": st.one_of(st.just("cafe"), st.text(max_size=4_096)),
        "dbPassword": passwords,
    },
    optional={"dbPort": st.one_of(st.integers(-1, 70_000).map(str), st.text(max_size=8))},
)


def ssm_outcome(values: dict[str, str]) -> str:
    try:
        return repr(db_parameters("/cafe", values))
    except ParameterError as exc:
        message = str(exc)
    assert len(message) <= MESSAGE_LIMIT
    return message


@given(ssm_values)
@example({"dbUrl": "db", "dbName": "c", "dbUser": "u", "dbPassword": "x", "dbPort": "\u0663"})
@example({"dbUrl": "db", "dbName": "c", "dbUser": "u", "dbPassword": "s3cret-\u20ac-pw"})
def test_ssm_values_are_valid_or_named_and_never_show_the_password(values: dict[str, str]) -> None:
    password = values["dbPassword"]
    outcome = ssm_outcome(values)
    hypothesis.event("refused" if outcome.startswith("SSM parameter") else "accepted")
    if outcome.startswith("SSM parameter"):
        reference = ssm_outcome({**values, "dbPassword": shadow(password)})
        assert outcome == reference  # the message depends on the password's shape at most
        assert_holds_no_part_of(password, outcome, known=reference)


# The command line -----------------------------------------------------------------------------


url_parts = st.fixed_dictionaries(
    {
        "scheme": mostly(st.just("mysql"), st.sampled_from(["mariadb", "postgres", ""])),
        "user": mostly(st.just("cafe"), st.text(max_size=40)),
        "quote": st.booleans(),
        "host": mostly(
            st.sampled_from(["db", "127.0.0.1", "[::1]"]),
            st.one_of(st.just("a" * 64 + ".com"), st.text(max_size=20)),
        ),
        "port": mostly(
            st.one_of(st.none(), st.integers(1, 65535).map(str)),
            st.one_of(st.integers(-1, 70_000).map(str), st.text(max_size=5)),
        ),
        "database": mostly(st.just("cafe"), st.text(max_size=70)),
    }
)
EXTRA = ["--dry-run", "--json", "-v", "--date", "2026-11-26", "--timezone", "UTC", "--dry-run=1",
         "20261126", "--"]  # fmt: skip
OPTION_SPELLINGS = ["--db-url", "--dburl", "--db_url", "--db", "--d", "-d", "--db-url="]


def command_line(
    parts: dict[str, Any], password: str, spelling: str, extra: list[str]
) -> list[str]:
    secret = quote(password, safe="") if parts["quote"] else password
    port = "" if parts["port"] is None else f":{parts['port']}"
    url = f"{parts['scheme']}://{parts['user']}:{secret}@{parts['host']}{port}/{parts['database']}"
    url_args = [spelling + url] if spelling.endswith("=") else [spelling, url]
    return [*url_args, *extra]


def run_cli(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """main() with the pipeline stubbed: these examples test what is said, not a report."""

    def stub_run(*args: object) -> object:
        raise ReporterError("stub: the report is not run here")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "run_report", stub_run)
        patch.setattr(cli, "fetch_through_extractor", lambda settings: None)
        patch.setattr(cli, "publish_to_topic", lambda settings: None)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli.main(argv, env=env)
            except SystemExit as exit_:  # --help
                status = int(exit_.code or 0)
    return status, out.getvalue() + err.getvalue()


@given(
    parts=url_parts,
    password=passwords,
    spelling=mostly(st.sampled_from(["--db-url", "--db-url="]), st.sampled_from(OPTION_SPELLINGS)),
    extra=st.lists(st.sampled_from(EXTRA), max_size=4),
    from_env=st.booleans(),
)
@example(parts={"scheme": "mysql", "user": "cafe", "quote": False, "host": "host", "port": None,
                "database": "db"}, password="SECRET", spelling="--dburl", extra=[],
         from_env=False)  # argparse printed the whole URL  # fmt: skip
@example(parts={"scheme": "mysql", "user": "cafe", "quote": False, "host": "h", "port": None,
                "database": "db"}, password="pa/ss-word", spelling="--db-url", extra=["--dry-run"],
         from_env=False)  # a '/' in the password puts it where the host goes  # fmt: skip
def test_cli_never_prints_the_password(
    parts: dict[str, Any], password: str, spelling: str, extra: list[str], from_env: bool
) -> None:
    argv = command_line(parts, "" if from_env else password, spelling, extra)
    env = {"MYSQL_PWD": password} if from_env else {}
    status, said = run_cli(argv, env)
    hypothesis.event(f"exit {status}")
    assert status in (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE)
    assert "Traceback" not in said
    assert len(said) <= 3 * MESSAGE_LIMIT
    reference_secret = shadow(password)
    reference_argv = command_line(parts, "" if from_env else reference_secret, spelling, extra)
    _, reference = run_cli(reference_argv, {"MYSQL_PWD": reference_secret} if from_env else {})
    assert_holds_no_part_of(password, said, known=reference)
