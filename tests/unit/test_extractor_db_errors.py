"""The extractor's connection errors for settings PyMySQL cannot send: ours, and never secret.

parse_event refuses these settings first; these are the second line, in extractor/db.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

import pymysql
import pytest

from extractor import db
from extractor.errors import ExtractorError
from extractor.event import ExtractRequest

OPEN_SOCKET = db._open_socket  # the real one: the fixture below replaces it for the others
PASSWORD = "hunter2-\u20ac-secret"
REQUEST = ExtractRequest(
    host="db.internal",
    port=3306,
    database="cafe_db",
    user="reporter",
    password=PASSWORD,
    report_date=date(2026, 11, 27),
    timezone=ZoneInfo("UTC"),
)


@pytest.fixture(autouse=True)
def _connected_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """db.connect opens its own TCP connection first: a socket pair stands in (no network)."""
    ours, theirs = socket.socketpair()
    monkeypatch.setattr(db, "_open_socket", lambda request, timeout: ours)
    yield
    ours.close()
    theirs.close()


def chain(error: BaseException) -> list[BaseException]:
    """The error and every exception a traceback would print with it."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        found.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return found


def test_connect_password_outside_latin1_says_what_to_do_and_nothing_of_it() -> None:
    # PyMySQL encodes the password as Latin-1 before it sends anything.
    with pytest.raises(ExtractorError) as caught, db.connect(REQUEST):
        pass
    assert "Latin-1" in str(caught.value)
    for error in chain(caught.value):
        assert "\u20ac" not in str(error)
        assert "position" not in str(error)
        assert "hun" not in str(error)
        assert not isinstance(error, UnicodeError)


def test_connect_over_long_dns_label_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def idna_fails(**kwargs: object) -> None:
        ("a" * 64 + ".example.com").encode("idna")  # what socket.create_connection raises

    monkeypatch.setattr(db, "_Connection", idna_fails)
    with (
        pytest.raises(ExtractorError, match="not a valid DNS name") as caught,
        db.connect(REQUEST._replace(password="ascii-secret")),
    ):
        pass
    assert "/cafe/dbUrl" in str(caught.value)


def test_open_socket_maps_an_idna_failure_to_our_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def idna_fails(address: object, timeout: object) -> None:
        ("a" * 64 + ".example.com").encode("idna")

    monkeypatch.setattr(db.socket, "create_connection", idna_fails)
    with pytest.raises(ExtractorError, match="not a valid DNS name") as caught:
        OPEN_SOCKET(REQUEST, 5)
    assert not any(isinstance(error, UnicodeError) for error in chain(caught.value))


def test_connect_error_translates_a_programming_error() -> None:
    # A database name over MySQL's limit: once an untranslated ProgrammingError.
    exc = pymysql.err.ProgrammingError(1102, "Incorrect database name 'ddd'")
    translated = db.connect_error(exc, REQUEST)
    assert type(translated) is ExtractorError
    assert "MySQL error 1102" in str(translated)
    assert "hunter2" not in str(translated)
