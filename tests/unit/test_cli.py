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
        (["--date", "2026-02-30", "--dry-run"], "not a date as YYYY-MM-DD"),
        (["--date", "2999-01-01", "--dry-run"], "is in the future"),
        (["--timezone", "Nowhere/Town", "--dry-run"], "not an IANA time zone"),
        (["--db-url", "mysql://u:topsecret@h", "--dry-run"], "--db-url must look like"),
    ],
)
def test_main_usage_errors_exit_2_with_a_message(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env={}) == EXIT_USAGE
    err = capsys.readouterr().err
    assert fragment in err
    assert "topsecret" not in err


def test_main_publishing_without_topic_arn_fails_with_the_setting_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--db-url", "mysql://u@h/d"], env={}) == 1
    assert "topicARN" in capsys.readouterr().err


def test_main_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"], env={})
    assert caught.value.code == 0
    assert "--db-url" in capsys.readouterr().out
