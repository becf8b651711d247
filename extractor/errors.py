"""Errors the extractor raises; Lambda reports each as a function error with its message."""

from __future__ import annotations


class ExtractorError(Exception):
    """Base of every error the extractor raises on purpose."""


class EventError(ExtractorError):
    """The invocation event is missing a field or has a malformed one."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"invalid event: {field!r} {problem}")


class DatabaseUnreachableError(ExtractorError):
    """The database host did not answer within the connect timeout."""

    def __init__(self, host: str, port: int, timeout: float, reason: str) -> None:
        self.host, self.port = host, port
        super().__init__(
            f"cannot reach database {host}:{port} within {timeout:g}s ({reason}): check that the "
            "database is running, that dbUrl/dbPort name it, and that its security group "
            "(DatabaseSG) allows MySQL (TCP 3306) from the extractor's security group (LambdaSG)"
        )


class DatabaseTimeoutError(ExtractorError):
    """The database conversation did not finish within the extractor's time limit."""

    def __init__(self, host: str, port: int, limit: float, phase: str) -> None:
        self.host, self.port = host, port
        super().__init__(
            f"database {host}:{port} did not finish answering within {limit:.1f}s (the "
            f"extractor's time before its Lambda timeout) while {phase}: the server is "
            "overloaded, the network between them is losing packets, or the query runs without "
            "the idx_order_date_time index (db/migrations/001_order_date_time_index.sql)"
        )


class DatabaseTlsError(ExtractorError):
    """TLS to the database failed: no TLS offered, a certificate not verified, no CA bundle."""


class DatabaseAuthError(ExtractorError):
    """The server refused the user name or password."""

    def __init__(self, user: str, host: str) -> None:
        self.user = user
        super().__init__(
            f"access denied for user {user!r} on {host}: check the /cafe/dbUser and "
            "/cafe/dbPassword parameters (the password is a SecureString)"
        )


class UnknownDatabaseError(ExtractorError):
    """The named database does not exist on the server, or the user cannot see it."""

    def __init__(self, database: str, host: str) -> None:
        self.database = database
        super().__init__(
            f"database {database!r} does not exist on {host} or user has no access to it: "
            "check the /cafe/dbName parameter"
        )


class QueryError(ExtractorError):
    """The sales query failed on the server (schema missing, timeout, connection lost)."""

    def __init__(self, detail: str, hint: str) -> None:
        super().__init__(f"sales query failed: {detail}: {hint}")
