"""A throwaway MariaDB server with TLS, for the tests of the extractor's certificate checks.

The shared test server has no TLS. This one is a real `mariadbd` from the same Debian package,
started on a free port in a temporary directory with a certificate authority and a server
certificate made here with `openssl` (the server's name is `localhost`, as an RDS certificate
names its endpoint). How it differs from RDS: a one-level CA instead of RDS's root and
intermediates, a self-made CA instead of Amazon's, and a fresh server for each test session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql

from support.aws import free_port

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "mariadb-install-db"


@dataclass(frozen=True)
class TlsServer:
    """Where the TLS server listens, its CA bundle, and another CA that did not sign it."""

    port: int
    ca: Path
    other_ca: Path
    user: str = "root"
    password: str = ""

    def connect(self) -> pymysql.Connection:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password
        )


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """ca.pem signs server.pem (for localhost); other-ca.pem is an unrelated CA."""
    for name in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", f"{name}-key.pem", "-out", f"{name}.pem",
            "-subj", f"/CN=cafe test {name}", cwd=directory,
        )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem",
        "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory,
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost\n", encoding="ascii")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem",
        cwd=directory,
    )  # fmt: skip


@contextlib.contextmanager
def tls_server() -> Iterator[TlsServer]:
    """Start mariadbd with TLS on a free port; yield it; stop it and delete its files."""
    for tool in (MARIADBD, "openssl"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the TLS tests need {tool} (Debian: mariadb-server, openssl)")
    root = Path(tempfile.mkdtemp(prefix="cafe-tls-db-"))
    data = root / "data"
    try:
        make_certificates(root)
        run_as = ["--user=mysql"] if os.geteuid() == 0 else []
        if run_as:
            shutil.chown(root, "mysql", "mysql")
        subprocess.run(
            [INSTALL_DB, *run_as, f"--datadir={data}", "--auth-root-authentication-method=normal",
             "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        if run_as:
            for path in (root, *root.rglob("*")):
                shutil.chown(path, "mysql", "mysql")
        port = free_port()
        process = subprocess.Popen(
            [MARIADBD, "--no-defaults", *run_as, f"--datadir={data}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--socket={root / 'mysqld.sock'}",
             f"--ssl-ca={root / 'ca.pem'}", f"--ssl-cert={root / 'server.pem'}",
             f"--ssl-key={root / 'server-key.pem'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            server = TlsServer(port, root / "ca.pem", root / "other-ca.pem")
            _wait_ready(server, process)
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: TlsServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            server.connect().close()
            return
        except pymysql.err.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"the TLS test server did not start:\n{stderr}") from None
            time.sleep(0.2)
