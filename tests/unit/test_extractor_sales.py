"""Row shaping and error translation in the extractor (no database needed)."""

from __future__ import annotations

import socket
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pymysql
import pytest

from extractor.db import connect_error
from extractor.errors import (
    DatabaseAuthError,
    DatabaseUnreachableError,
    ExtractorError,
    UnknownDatabaseError,
)
from extractor.event import ExtractRequest
from extractor.sales import SALES_QUERY, shape_row

REQUEST = ExtractRequest(
    host="db.internal",
    port=3306,
    database="cafe_db",
    user="reporter",
    password="hunter2-secret",
    report_date=date(2026, 11, 27),
    timezone=ZoneInfo("UTC"),
)


def test_shape_row_gives_the_contract_types() -> None:
    row = {
        "product_group_number": 1,
        "product_group_name": "Pastries",
        "product_id": 4,
        "product_name": "Muffin",
        "quantity": Decimal("7"),  # SUM() of an INT column comes back as DECIMAL
        "revenue": Decimal("21.00"),
    }
    assert shape_row(row) == {
        "product_group_number": 1,
        "product_group_name": "Pastries",
        "product_id": 4,
        "product_name": "Muffin",
        "quantity": 7,
        "revenue": "21.00",
    }


@pytest.mark.parametrize(
    ("revenue", "text"), [(Decimal("3.5"), "3.50"), (Decimal("1234567.891"), "1234567.89")]
)
def test_shape_row_revenue_has_two_decimals(revenue: Decimal, text: str) -> None:
    row = {
        "product_group_number": 2,
        "product_group_name": "Drinks",
        "product_id": 7,
        "product_name": "Coffee",
        "quantity": 1,
        "revenue": revenue,
    }
    assert shape_row(row)["revenue"] == text


def test_sales_query_binds_its_two_bounds() -> None:
    assert SALES_QUERY.count("%s") == 2
    assert "{" not in SALES_QUERY  # never str.format()ted
    assert "ORDER BY" in SALES_QUERY
    assert "CAST(" not in SALES_QUERY.upper()


@pytest.mark.parametrize(
    ("code", "message", "error", "fragment"),
    [
        (1045, "Access denied for user 'reporter'@'10.0.0.5' (using password: YES)",
         DatabaseAuthError, "access denied for user 'reporter'"),
        (1049, "Unknown database 'cafe_db'", UnknownDatabaseError, "'cafe_db' does not exist"),
        (1044, "Access denied for user 'reporter'@'%' to database 'cafe_db'",
         UnknownDatabaseError, "check the /cafe/dbName parameter"),
        (2003, "Can't connect to MySQL server on 'db.internal' (timed out)",
         DatabaseUnreachableError, "cannot reach database db.internal:3306 within 5s (timed out)"),
        (2003, "Can't connect to MySQL server on 'db.internal' ([Errno 111] Connection refused)",
         DatabaseUnreachableError, "LambdaSG"),
        (2013, "Lost connection to MySQL server during query (timed out)",
         DatabaseUnreachableError, "within 10s (no MySQL handshake: timed out)"),
        (1040, "Too many connections", ExtractorError, "Too many connections"),
    ],
)  # fmt: skip
def test_connect_error_names_the_cause_and_the_fix(
    code: int, message: str, error: type[ExtractorError], fragment: str
) -> None:
    translated = connect_error(pymysql.err.OperationalError(code, message), REQUEST)
    assert type(translated) is error
    assert fragment in str(translated)
    assert "hunter2-secret" not in str(translated)


def test_connect_without_rsa_support_says_to_use_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    from extractor import db

    def refuse(**kwargs: object) -> None:
        raise RuntimeError("'cryptography' package is required for caching_sha2_password")

    monkeypatch.setattr(db, "_Connection", refuse)
    ours, theirs = socket.socketpair()  # a connected socket that is no network connection
    monkeypatch.setattr(db, "_open_socket", lambda request, timeout: ours)
    with (
        pytest.raises(ExtractorError, match="enable TLS on the server") as caught,
        db.connect(REQUEST),
    ):
        pass
    assert "hunter2-secret" not in str(caught.value)
    assert ours.fileno() == -1  # closed on the way out
    theirs.close()
