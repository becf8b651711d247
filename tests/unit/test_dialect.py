"""The server-side statement limit, in each engine's syntax."""

from __future__ import annotations

import pytest

from extractor.dialect import is_mariadb, with_time_limit

MARIADB = "10.11.6-MariaDB-0+deb12u1"
MYSQL = "8.4.3"


@pytest.mark.parametrize(("version", "expected"), [(MARIADB, True), (MYSQL, False)])
def test_is_mariadb_reads_the_handshake_version(version: str, expected: bool) -> None:
    assert is_mariadb(version) is expected


def test_mysql_gets_the_max_execution_time_hint_in_milliseconds() -> None:
    assert with_time_limit("SELECT a FROM t WHERE b = %s", MYSQL, 2.5) == (
        "SELECT /*+ MAX_EXECUTION_TIME(2500) */ a FROM t WHERE b = %s"
    )


def test_mariadb_gets_set_statement_in_seconds() -> None:
    assert with_time_limit("\n SELECT a FROM t", MARIADB, 2.5) == (
        "SET STATEMENT max_statement_time=2.500 FOR SELECT a FROM t"
    )


def test_a_spent_limit_still_gives_a_positive_one() -> None:
    assert "MAX_EXECUTION_TIME(1)" in with_time_limit("SELECT 1", MYSQL, -3)
    assert "max_statement_time=0.001" in with_time_limit("SELECT 1", MARIADB, -3)


def test_only_a_select_can_be_limited() -> None:
    with pytest.raises(ValueError, match="SELECT"):
        with_time_limit("DELETE FROM t", MYSQL, 1)
