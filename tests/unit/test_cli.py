"""The command line's parsing and errors (the runs themselves are integration tests)."""

from __future__ import annotations

import pytest

from reporter.cli import EXIT_USAGE, UsageError, db_event, main


def test_db_event_reads_every_part() -> None:
    assert db_event("mysql://cafe:p%40ss@db.internal:3307/cafe_db", {}) == {
        "dbUrl": "db.internal",
        "dbName": "cafe_db",
        "dbUser": "cafe",
        "dbPassword": "p@ss",
        "dbPort": 3307,
    }


def test_db_event_password_from_mysql_pwd_when_absent() -> None:
    event = db_event("mysql://cafe@db.internal/cafe_db", {"MYSQL_PWD": "from-env"})
    assert event["dbPassword"] == "from-env"
    assert "dbPort" not in event


@pytest.mark.parametrize(
    "url",
    [
        "postgres://cafe:topsecret@db/cafe",
        "mysql://cafe:topsecret@db",
        "mysql://cafe:topsecret@:3306/cafe",
        "mysql://cafe:topsecret@db:port/cafe",
        "mysql://:topsecret@db/cafe",
    ],
)
def test_db_event_rejects_a_bad_url_without_showing_the_password(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        db_event(url, {})
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--date", "2026-02-30", "--dry-run"], "--date is not a real calendar date"),
        (["--date", "2999-01-01", "--dry-run"], "is in the future"),
        (["--timezone", "Nowhere/Town", "--dry-run"], "not a known IANA time zone"),
        (["--db-url", "mysql://u:topsecret@h", "--dry-run"], "--db-url must look like"),
        # Issue 10: accepted, ignored or a traceback before.
        (["--date", "20261130", "--dry-run"], "--date must be a date as YYYY-MM-DD"),
        (["--date", "9999-12-31", "--dry-run"], "from 0001-01-02 to 9999-12-30"),
        (["--date", "\uff12\uff10\uff12\uff16-11-30", "--dry-run"], "YYYY-MM-DD"),
        (["--json"], "--json goes with --dry-run"),
        (["--db-url", "mysql://u:topsecret@h:0/cafe", "--dry-run"], "from 1 to 65535"),
        (["--db-url", "mysql://u:topsecret@h:\u0663\u0663/cafe", "--dry-run"], "1 to 65535"),
        (["--db-url", "mysql://u:topsecret@" + "a" * 64 + ".com/cafe", "--dry-run"], "DNS"),
        (["--db-url", "mysql://u:topsecret@h/" + "d" * 65, "--dry-run"], "1 to 64 characters"),
        (["--db-url", "mysql://" + "u" * 33 + ":topsecret@h/d", "--dry-run"], "1 to 32"),
        (["--db-url", "mysql://u:topsecret%E2%82%AC@h/d", "--dry-run"], "cannot send"),
        (["--db-url", "mysql://u:topsecret%FF@h/d", "--dry-run"], "not UTF-8"),
        (["--db-url", "mysql://u:top/secret@h/d", "--dry-run"], "more than one part"),
        (["--db-url", "mysql://u:topsecret@[::1/d", "--dry-run"], "--db-url must look like"),
        (["--dburl", "mysql://cafe:topsecret@host/db"], "did you mean --db-url?"),
        (["--dburl=mysql://cafe:topsecret@host/db"], "did you mean --db-url?"),
        (["--db=mysql://cafe:topsecret@host/db"], "an option this command does not know"),
        (["-ptopsecret"], "an option this command does not know"),
        (["topsecret"], "an argument this command does not know"),
        (["--dry-run=topsecret"], "--dry-run takes no value"),
        (["-vtopsecret"], "is not shown"),
        (["--date"], "--date: expected one argument"),
        (["--date", "2026-1-1"], "YYYY-MM-DD"),  # before topicARN's absence: usage comes first
    ],
)
def test_main_usage_errors_exit_2_with_a_message(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env={}) == EXIT_USAGE
    err = capsys.readouterr().err
    assert fragment in err
    assert err.startswith("usage: python -m reporter")
    for piece in ("tops", "secret", "\u20ac", "%E2", "Traceback"):
        assert piece not in err
    assert len(err) < 800


def test_main_publishing_without_topic_arn_fails_with_the_setting_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--db-url", "mysql://u@h/d"], env={}) == 1
    assert "topicARN" in capsys.readouterr().err


def test_main_without_a_region_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reporter import aws

    aws.client.cache_clear()
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance to ask for a region
    try:
        assert main(["--dry-run"], env={}) == 1
    finally:
        aws.client.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("error: AWS: You must specify a region")
    assert "Traceback" not in err


def test_main_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"], env={})
    assert caught.value.code == 0
    assert "--db-url" in capsys.readouterr().out
