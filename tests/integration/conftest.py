"""Shared real services: the database server (under MySQL 8's sql_mode) and moto's server.

A service that is missing fails the tests that need it, loudly: nothing here skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.aws import moto_server
from support.database import MYSQL8_SQL_MODE, Server, global_sql_mode, throwaway_database


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The MariaDB/MySQL server, its global sql_mode set to MySQL 8's default for the session.

    Production is RDS MySQL 8: holding MariaDB to ONLY_FULL_GROUP_BY and strict mode catches
    the lab's non-portable SQL here. New connections (the extractor's) pick the mode up.
    """
    server = Server.from_env()
    with global_sql_mode(server, MYSQL8_SQL_MODE):
        yield server


@pytest.fixture
def cafe_db(server: Server) -> Iterator[str]:
    """A fresh database loaded from db/seed.sql; its name. Dropped afterwards."""
    with throwaway_database(server, seed=True) as name:
        yield name


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server, over real HTTP on 127.0.0.1; its endpoint URL."""
    with moto_server() as endpoint:
        yield endpoint
