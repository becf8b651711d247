"""Opening the MySQL connection, with each failure turned into an error that says what to fix."""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.connections
import pymysql.cursors
from pymysql.constants import ER

from .errors import (
    DatabaseAuthError,
    DatabaseUnreachableError,
    ExtractorError,
    UnknownDatabaseError,
)
from .event import ExtractRequest

# Well under the functions' 30 s timeout, so a blocked security group gives our message, not
# Lambda's "Task timed out". The read timeout bounds every server answer: the handshake and
# the query (which takes milliseconds with the date index).
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10

_CR_CONN_HOST_ERROR = 2003  # client-side codes are not in pymysql.constants.ER
_CR_SERVER_LOST = 2013


class _Connection(pymysql.connections.Connection):
    """PyMySQL's connection, without the cost of a new default TLS context on every connect.

    Given no TLS options, PyMySQL 1.2 uses TLS when the server offers it ("preferred" mode),
    without verifying the server's certificate, and builds a default context for that on every
    connection: loading the system's CA store took ~75 ms per invocation (bench/RESULTS.md), for
    certificates it never checks. The same unverified context is built here once per container.
    """

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        return _preferred_tls_context() if not sslp else super()._create_ssl_ctx(sslp)


@functools.cache
def _preferred_tls_context() -> ssl.SSLContext:
    """PyMySQL's preferred-mode context (encryption, no verification), minus the CA store."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@contextlib.contextmanager
def connect(request: ExtractRequest) -> Iterator[pymysql.Connection]:
    """Yield an open connection in UTC; closed on every path. Raises an ExtractorError."""
    try:
        conn = _Connection(
            host=request.host,
            port=request.port,
            user=request.user,
            password=request.password,
            database=request.database,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            write_timeout=READ_TIMEOUT_S,
            charset="utf8mb4",
            # TIMESTAMPs are compared in UTC: the window is computed in Python as UTC bounds.
            init_command="SET time_zone = '+00:00'",
            cursorclass=pymysql.cursors.DictCursor,
            autocommit=True,
        )
    except pymysql.err.MySQLError as exc:  # e.g. ProgrammingError: a name over MySQL's limits
        raise connect_error(exc, request) from exc
    except UnicodeError as exc:
        # Not chained: a UnicodeEncodeError names a character it could not send and its
        # position, and for the password both are secret.
        raise encoding_error(exc, request) from None
    except RuntimeError as exc:  # PyMySQL's way of saying it lacks `cryptography` for RSA
        raise ExtractorError(
            f"cannot log in to {request.host}:{request.port}: the server asks for "
            "caching_sha2_password (MySQL 8's default) on a connection without TLS, which needs "
            "RSA: enable TLS on the server (RDS always offers it; the extractor uses it when "
            "offered) or give the user mysql_native_password"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def connect_error(exc: pymysql.err.MySQLError, request: ExtractRequest) -> ExtractorError:
    """Map PyMySQL's connect failure to our error; the password is in neither message."""
    code = exc.args[0] if exc.args else None
    detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code == ER.ACCESS_DENIED_ERROR:
        return DatabaseAuthError(request.user, request.host)
    if code in (ER.BAD_DB_ERROR, ER.DBACCESS_DENIED_ERROR):
        return UnknownDatabaseError(request.database, request.host)
    if code == _CR_CONN_HOST_ERROR:
        return DatabaseUnreachableError(
            request.host, request.port, CONNECT_TIMEOUT_S, _reason(detail)
        )
    if code == _CR_SERVER_LOST:  # TCP connected, but no MySQL greeting came back
        return DatabaseUnreachableError(
            request.host, request.port, READ_TIMEOUT_S, f"no MySQL handshake: {_reason(detail)}"
        )
    return ExtractorError(
        f"cannot connect to database {request.host}:{request.port}: {detail} (MySQL error {code})"
    )


def encoding_error(exc: UnicodeError, request: ExtractRequest) -> ExtractorError:
    """A setting the connection cannot encode (parse_event refuses these first); never shows it."""
    if isinstance(exc, UnicodeEncodeError) and exc.encoding == "latin-1":  # only the password
        return ExtractorError(
            "dbPassword has characters the database connection cannot send (the password is "
            "sent as Latin-1): give the database user a password of Latin-1 characters, e.g. "
            "ASCII letters, digits and punctuation"
        )
    if isinstance(exc, UnicodeEncodeError):
        return ExtractorError(
            f"cannot send the user name or database name to {request.host} as UTF-8: check the "
            "/cafe/dbUser and /cafe/dbName parameters"
        )
    return ExtractorError(  # IDNA: a DNS label of over 63 characters, or an empty one
        f"dbUrl {request.host[:80]!r} is not a valid DNS name (dot-separated labels of 1 to 63 "
        "characters): check the /cafe/dbUrl parameter"
    )


def _reason(detail: str) -> str:
    # "Can't connect to MySQL server on 'h' ([Errno 111] Connection refused)" -> the part in ().
    start, end = detail.rfind("("), detail.rfind(")")
    return detail[start + 1 : end] if 0 <= start < end else detail
