"""docker/download.py, what the image build fetches the emulator and the RDS CA bundle with."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from support.tools import REPO_ROOT, run

DOWNLOAD = REPO_ROOT / "docker" / "download.py"
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def download(*args: str | Path) -> Any:
    return run([sys.executable, DOWNLOAD, *args])


class Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/bundle.pem":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PEM)))
            self.end_headers()
            self.wfile.write(PEM)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_checks_the_digest_and_sets_the_mode(tmp_path: Path) -> None:
    asset = tmp_path / "aws-lambda-rie-x86_64"
    asset.write_bytes(b"\x7fELF emulator")
    digest = hashlib.sha256(asset.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "aws-lambda-rie"
    result = download("--sha256", digest, "--mode", "0755", asset.as_uri(), dest)
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == asset.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o755


def test_download_refuses_another_digest_and_writes_nothing(tmp_path: Path) -> None:
    asset = tmp_path / "aws-lambda-rie"
    asset.write_bytes(b"not the published asset")
    dest = tmp_path / "out" / "aws-lambda-rie"
    result = download("--sha256", "0" * 64, asset.as_uri(), dest)
    assert result.returncode == 1
    actual = hashlib.sha256(asset.read_bytes()).hexdigest()
    assert result.stderr == f"download: {asset.as_uri()}: SHA-256 {actual}, expected {'0' * 64}\n"
    assert not dest.parent.exists()  # nothing written, not even a temporary file


def test_download_fetches_a_pem_bundle_over_http(tmp_path: Path, mirror: str) -> None:
    dest = tmp_path / "certs" / "rds-global-bundle.pem"
    result = download("--pem", f"{mirror}/bundle.pem", dest)
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == PEM
    assert dest.stat().st_mode & 0o777 == 0o644


def test_download_refuses_what_is_not_pem(tmp_path: Path) -> None:
    page = tmp_path / "login.html"
    page.write_text("<html>captive portal</html>")
    result = download("--pem", page.as_uri(), tmp_path / "bundle.pem")
    assert result.returncode == 1
    assert "not a PEM certificate bundle" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_download_names_an_http_error(tmp_path: Path, mirror: str) -> None:
    result = download(f"{mirror}/missing.pem", tmp_path / "bundle.pem")
    assert result.returncode == 1
    assert result.stderr == f"download: {mirror}/missing.pem: HTTP 404 Not Found\n"


def test_download_refuses_other_schemes(tmp_path: Path) -> None:
    result = download("ftp://example.com/bundle.pem", tmp_path / "bundle.pem")
    assert result.returncode == 1
    assert "only https://, http:// and file:// URLs" in result.stderr
