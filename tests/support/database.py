"""Throwaway databases on the real MariaDB/MySQL server the integration tests use."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pymysql
from pymysql.constants import CLIENT

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_SQL = REPO_ROOT / "db" / "seed.sql"

# Syntax that MariaDB accepts and MySQL 8.4 rejects (or that would pin a script to one database).
NOT_PORTABLE_SQL = (
    r"IF\s+NOT\s+EXISTS",
    r"AS\s+INT\b",
    r"\bINT\s*\(",
    r"^\s*USE\s",
    r"CREATE\s+DATABASE",
)

# MySQL 8.0/8.4's default sql_mode: the tests hold MariaDB to what production's RDS MySQL enforces.
MYSQL8_SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)


@dataclass(frozen=True)
class Server:
    """Where the test server listens and how an administrator logs in."""

    host: str
    port: int
    user: str
    password: str

    @classmethod
    def from_env(cls) -> Server:
        return cls(
            host=os.environ.get("TEST_DB_HOST", "127.0.0.1"),
            port=int(os.environ.get("TEST_DB_PORT", "3306")),
            user=os.environ.get("TEST_DB_USER", "root"),
            password=os.environ.get("TEST_DB_PASSWORD", ""),
        )

    def connect(self, database: str | None = None, **kwargs: object) -> pymysql.Connection:
        """Open an administrator connection; fail with instructions if the server is down."""
        try:
            return pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                database=database,
                connect_timeout=5,
                autocommit=True,
                **kwargs,
            )
        except pymysql.err.OperationalError as exc:
            raise RuntimeError(
                f"the integration tests need MariaDB or MySQL on {self.host}:{self.port} "
                f"(user {self.user!r}; set TEST_DB_HOST/PORT/USER/PASSWORD to change): {exc}. "
                "Start MariaDB with: start-stop-daemon --start --oknodo --background "
                "--exec /usr/sbin/mariadbd"
            ) from exc


def extractor_event(
    server: Server, database: str, day: date, timezone: str = "UTC", **changes: object
) -> dict[str, object]:
    """The extractor's event for `day` on `database` (as the server's administrator, unless
    `changes` say otherwise, e.g. dbUser/dbPassword of a reader_user)."""
    return {
        "dbUrl": server.host,
        "dbPort": server.port,
        "dbName": database,
        "dbUser": server.user,
        "dbPassword": server.password,
        "reportDate": day.isoformat(),
        "timezone": timezone,
        **changes,
    }


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def run_script(conn: pymysql.Connection, sql: str) -> None:
    """Run a multi-statement SQL script (the connection needs CLIENT.MULTI_STATEMENTS)."""
    with conn.cursor() as cur:
        cur.execute(sql)
        while cur.nextset():
            pass


@contextlib.contextmanager
def throwaway_database(server: Server, *, seed: bool = True) -> Iterator[str]:
    """Create a uniquely named database (loaded from db/seed.sql), yield its name, drop it."""
    name = unique_name("cafe_test")
    admin = server.connect()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        if seed:
            conn = server.connect(name, client_flag=CLIENT.MULTI_STATEMENTS)
            try:
                run_script(conn, SEED_SQL.read_text(encoding="utf-8"))
            finally:
                conn.close()
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@contextlib.contextmanager
def reader_user(server: Server, database: str) -> Iterator[tuple[str, str]]:
    """A user with SELECT on one database and a real password; yields (user, password)."""
    user = unique_name("cafe_rd")[:32]
    password = "pw-" + uuid.uuid4().hex  # unique, so a leak in any log is easy to find
    admin = server.connect()
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))
        yield user, password
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()


@contextlib.contextmanager
def global_variables(server: Server, **values: str) -> Iterator[None]:
    """Set server-wide variables (new sessions pick them up), restore them afterwards."""
    admin = server.connect()
    previous: dict[str, str] = {}
    try:
        with admin.cursor() as cur:
            for name, value in values.items():
                cur.execute(f"SELECT @@GLOBAL.{name}")
                (previous[name],) = cur.fetchone()
                cur.execute(f"SET GLOBAL {name} = %s", (value,))
        yield
    finally:
        with admin.cursor() as cur:
            for name, value in previous.items():
                cur.execute(f"SET GLOBAL {name} = %s", (value,))
        admin.close()
