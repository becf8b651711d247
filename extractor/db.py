"""Opening the MySQL connection, with each failure turned into an error that says what to fix."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.connections
import pymysql.cursors
from pymysql.constants import ER

from . import tls
from .errors import (
    DatabaseAuthError,
    DatabaseTimeoutError,
    DatabaseTlsError,
    DatabaseUnreachableError,
    ExtractorError,
    UnknownDatabaseError,
)
from .event import ExtractRequest

# The whole database conversation (connect, log in, query) must end before the function's own
# deadline (the handler passes it), so a hung or trickling server gives our error, not Lambda's
# "Task timed out". Within it: the TCP connect may take CONNECT_TIMEOUT_S, any one read
# READ_TIMEOUT_S; a watchdog ends the conversation at the deadline whatever it is waiting for
# (a server sending one byte at a time never trips a per-read timeout).
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
DEFAULT_LIMIT_S = 25.0  # without a Lambda context (the CLI's in-process run)

_CR_CONN_HOST_ERROR = 2003  # client-side codes are not in pymysql.constants.ER
_CR_SERVER_LOST = 2013
_CR_SSL_CONNECTION_ERROR = 2026


class _Connection(pymysql.connections.Connection):
    """PyMySQL's connection, with its PREFERRED-mode context built once (tls.py)."""

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        return tls.unverified_context() if not sslp else super()._create_ssl_ctx(sslp)


@contextlib.contextmanager
def connect(request: ExtractRequest, deadline: float | None = None) -> Iterator[pymysql.Connection]:
    """Yield an open connection in UTC; closed on every path. Raises an ExtractorError.

    `deadline` (a time.monotonic() value, default DEFAULT_LIMIT_S from now) bounds everything
    until the connection is closed: past it, DatabaseTimeoutError.
    """
    if deadline is None:
        deadline = time.monotonic() + DEFAULT_LIMIT_S
    limit = deadline - time.monotonic()
    if limit <= 0:
        raise DatabaseTimeoutError(request.host, request.port, 0.0, "connecting")
    ssl_mode, bundle = tls.mode_and_bundle(request)
    sock = _open_socket(request, min(CONNECT_TIMEOUT_S, limit))
    watchdog = _Watchdog(sock, limit)
    try:
        conn = _Connection(
            host=request.host,
            port=request.port,
            user=request.user,
            password=request.password,
            database=request.database,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=min(READ_TIMEOUT_S, max(limit, 0.1)),
            write_timeout=min(READ_TIMEOUT_S, max(limit, 0.1)),
            charset="utf8mb4",
            # TIMESTAMPs are compared in UTC: the window is computed in Python as UTC bounds.
            init_command="SET time_zone = '+00:00'",
            cursorclass=pymysql.cursors.DictCursor,
            autocommit=True,
            defer_connect=True,
            **tls.connection_options(ssl_mode, bundle),
        )
        conn.connect(sock)
    except (pymysql.err.MySQLError, UnicodeError, RuntimeError) as exc:
        watchdog.stop()
        sock.close()
        error, cause = login_error(exc, request, limit, ssl_mode, timed_out=watchdog.fired)
        raise error from cause
    try:
        yield conn
    except ExtractorError as exc:
        if watchdog.fired:  # the failure is the watchdog cutting the conversation short
            raise DatabaseTimeoutError(
                request.host, request.port, limit, "running the sales query"
            ) from exc
        raise
    finally:
        watchdog.stop()
        conn.close()


def _open_socket(request: ExtractRequest, timeout: float) -> socket.socket:
    """The TCP connection to the server (ours, so the watchdog can cut it, TLS or not)."""
    try:
        sock = socket.create_connection((request.host, request.port), timeout)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise DatabaseUnreachableError(request.host, request.port, timeout, reason) from exc
    except UnicodeError as exc:  # IDNA refuses the name (parse_event refuses it first)
        raise encoding_error(exc, request) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


class _Watchdog:
    """Shuts the connection down at the deadline, whatever PyMySQL is blocked on.

    It keeps a duplicate of the socket's descriptor: shutdown() acts on the connection, not on
    one descriptor, so it also ends reads on the TLS socket PyMySQL wraps around the original.
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._dup: socket.socket | None = sock.dup()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._dup is None:
                return
            self.fired = True
            with contextlib.suppress(OSError):
                self._dup.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._dup is not None:
                self._dup.close()
                self._dup = None


def login_error(
    exc: pymysql.err.MySQLError | UnicodeError | RuntimeError,
    request: ExtractRequest,
    limit: float,
    ssl_mode: str,
    *,
    timed_out: bool,
) -> tuple[ExtractorError, BaseException | None]:
    """Our error for a failed login, and the cause to chain it to (None: not shown)."""
    if timed_out:  # whatever PyMySQL says, the watchdog ended it
        return DatabaseTimeoutError(request.host, request.port, limit, "logging in"), None
    tls_error = _tls_error(exc, request, ssl_mode)
    if tls_error is not None:
        return tls_error, exc
    if isinstance(exc, UnicodeError):
        # Not chained: a UnicodeEncodeError names a character it could not send and its
        # position, and for the password both are secret.
        return encoding_error(exc, request), None
    if isinstance(exc, RuntimeError):  # PyMySQL's way of saying it lacks `cryptography` for RSA
        return ExtractorError(
            f"cannot log in to {request.host}:{request.port}: the server asks for "
            "caching_sha2_password (MySQL 8's default) on a connection without TLS, which needs "
            "RSA: enable TLS on the server (RDS always offers it; the extractor uses it when "
            "offered) or give the user mysql_native_password"
        ), exc
    return connect_error(exc, request), exc


def _tls_error(
    exc: BaseException, request: ExtractRequest, ssl_mode: str
) -> DatabaseTlsError | None:
    """Our error when TLS is what failed (PyMySQL reports it as a connect failure)."""
    where = f"{request.host}:{request.port}"
    cause = getattr(exc, "original_exception", None)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return DatabaseTlsError(
            f"cannot verify the TLS certificate of database {where} ({cause.verify_message}) "
            f"in dbSslMode {ssl_mode}: check that dbSslCa (default: RDS's CA bundle in the "
            "image) holds the CA that signed it; for a name the certificate does not hold (a "
            "CNAME, an IP address) use VERIFY_CA; REQUIRED encrypts without verifying"
        )
    if isinstance(cause, ssl.SSLError):
        return DatabaseTlsError(f"the TLS handshake with database {where} failed: {cause}")
    if exc.args and exc.args[0] == _CR_SSL_CONNECTION_ERROR:
        return DatabaseTlsError(
            f"database {where} does not offer TLS, and dbSslMode {ssl_mode} requires it: "
            "enable TLS on the server (RDS always has it), or set dbSslMode to PREFERRED "
            "(TLS when offered) or DISABLED"
        )
    return None


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
