"""TLS to the database: the server's certificate verified against a CA bundle, each ssl mode.

A throwaway MariaDB with TLS (tests/support/tls_server.py) whose certificate a test CA signed
for `localhost`, as RDS's CA signs a certificate for each endpoint; the shared test server,
which has no TLS, stands for a server without it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractor import db
from extractor.errors import DatabaseTlsError
from extractor.event import parse_event
from extractor.handler import lambda_handler
from support.database import Server, extractor_event, throwaway_database
from support.tls_server import TlsServer, tls_server


@pytest.fixture(scope="module")
def tls() -> Iterator[TlsServer]:
    with tls_server() as server:
        yield server


@pytest.fixture
def image_bundle(tls: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A task root holding the CA bundle where the image keeps RDS's (certs/...)."""
    bundle = tmp_path / "certs" / "rds-global-bundle.pem"
    bundle.parent.mkdir()
    shutil.copy(tls.ca, bundle)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    return bundle


def event_for(tls: TlsServer, host: str = "localhost", **fields: object) -> dict[str, object]:
    server = Server("127.0.0.1", tls.port, tls.user, tls.password)
    event = extractor_event(server, "mysql", datetime.now(UTC).date(), dbUrl=host)
    return {**event, **fields}


def cipher(event: dict[str, object]) -> str:
    """The TLS cipher of a connection the extractor opens for `event` ('' without TLS)."""
    with db.connect(parse_event(event)) as conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        return str(cur.fetchone()["Value"])


def test_by_default_the_image_bundle_verifies_the_server(
    tls: TlsServer, image_bundle: Path
) -> None:
    server = Server("127.0.0.1", tls.port, tls.user, tls.password)
    with throwaway_database(server) as database:
        event = event_for(tls, dbName=database)
        assert cipher(event)  # encrypted, and verified: VERIFY_IDENTITY is the default
        result = lambda_handler(event, None)
    assert result["statusCode"] == 200
    assert result["body"], "db/seed.sql promises orders today"


def test_a_certificate_from_another_ca_is_refused_by_name(
    tls: TlsServer, image_bundle: Path
) -> None:
    event = event_for(tls, dbSslCa=str(tls.other_ca))
    with pytest.raises(DatabaseTlsError, match="cannot verify the TLS certificate") as caught:
        cipher(event)
    assert "localhost:" in str(caught.value)
    assert "dbSslCa" in str(caught.value)


def test_a_host_the_certificate_does_not_name_needs_verify_ca(
    tls: TlsServer, image_bundle: Path
) -> None:
    with pytest.raises(DatabaseTlsError, match="use VERIFY_CA"):
        cipher(event_for(tls, host="127.0.0.1"))
    assert cipher(event_for(tls, host="127.0.0.1", dbSslMode="VERIFY_CA"))


def test_required_encrypts_without_a_bundle(tls: TlsServer) -> None:
    assert cipher(event_for(tls, host="127.0.0.1", dbSslMode="required"))


def test_a_server_without_tls_is_refused_when_tls_is_required(server: Server) -> None:
    event = extractor_event(server, "mysql", datetime.now(UTC).date(), dbSslMode="REQUIRED")
    with pytest.raises(DatabaseTlsError, match=r"does not offer TLS.*PREFERRED"):
        cipher(event)


def test_verifying_without_a_bundle_says_which_file_is_missing(
    tls: TlsServer, tmp_path: Path
) -> None:
    missing = tmp_path / "no-bundle.pem"
    event = event_for(tls, dbSslMode="VERIFY_IDENTITY", dbSslCa=str(missing))
    with pytest.raises(DatabaseTlsError, match=f"no CA bundle at {missing}"):
        cipher(event)


def test_without_a_bundle_the_default_is_preferred_and_says_so(
    tls: TlsServer,
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))  # a checkout: no certs/ in it
    with caplog.at_level(logging.WARNING, logger="extractor.tls"):
        assert cipher(event_for(tls, host="127.0.0.1"))  # encrypted where offered
        plain = extractor_event(server, "mysql", datetime.now(UTC).date())
        assert cipher(plain) == ""  # and plain where not, as the lab's extractor did
    assert "is not verified" in caplog.text
