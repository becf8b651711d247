"""Shared real services: the database server (under MySQL 8's sql_mode) and moto's server.

A service that is missing fails the tests that need it, loudly: nothing here skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.aws import moto_server
from support.database import MYSQL8_SQL_MODE, Server, global_variables, throwaway_database


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The MariaDB/MySQL server, set up for the session like a demanding production server.

    Its sql_mode is MySQL 8's default (production is RDS MySQL 8), so ONLY_FULL_GROUP_BY and
    strict mode catch the lab's non-portable SQL here. Its time zone is not UTC, as an RDS
    parameter group may set it: only code that puts its own session in UTC gets the right day.
    New connections (the extractor's) pick both up.
    """
    server = Server.from_env()
    with global_variables(server, sql_mode=MYSQL8_SQL_MODE, time_zone="+05:30"):
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
