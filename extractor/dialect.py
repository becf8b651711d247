"""Where MySQL and MariaDB differ for the extractor, in one place: the server's statement limit."""

from __future__ import annotations

# The server's own answer to a statement stopped at its time limit.
MYSQL_QUERY_TIMEOUT = 3024  # ER_QUERY_TIMEOUT, after MAX_EXECUTION_TIME
MARIADB_STATEMENT_TIMEOUT = 1969  # ER_STATEMENT_TIMEOUT, after max_statement_time
STATEMENT_TIMEOUTS = (MYSQL_QUERY_TIMEOUT, MARIADB_STATEMENT_TIMEOUT)


def is_mariadb(server_version: str) -> bool:
    """Whether the handshake's version string is MariaDB's (e.g. "10.11.6-MariaDB-0+deb12u1")."""
    return "mariadb" in server_version.lower()


def with_time_limit(select: str, server_version: str, seconds: float) -> str:
    """`select` (a SELECT statement) stopped by the server itself after `seconds`.

    MySQL: the MAX_EXECUTION_TIME optimizer hint (milliseconds; SELECT only). MariaDB, which
    reads that hint as a comment: SET STATEMENT max_statement_time=... FOR (seconds).
    Only a number we computed goes into the text; the query's values stay bound parameters.
    """
    statement = select.strip()
    if not statement[:6].upper() == "SELECT":
        raise ValueError("only a SELECT statement can be given a time limit")
    if is_mariadb(server_version):
        return f"SET STATEMENT max_statement_time={max(seconds, 0.001):.3f} FOR {statement}"
    return f"SELECT /*+ MAX_EXECUTION_TIME({max(int(seconds * 1000), 1)}) */{statement[6:]}"
