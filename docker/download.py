"""Download one file for the image build, check it, and write it with the mode asked for.

    python3 docker/download.py [--sha256 HEX] [--pem] [--mode 0644] URL DEST

The Dockerfile runs it in a build stage (the base image has Python, not curl) instead of
`ADD --checksum --chmod`, which the classic builder cannot parse. URL is https:// (or http://
for a local mirror, or file:// for a path inside the build stage). --sha256 refuses any other
content; --pem requires PEM certificates. Exit status 1 with one line on stderr if it fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_S = 60
ATTEMPTS = 3
PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


class DownloadError(Exception):
    """The file could not be fetched or failed its check; the message says which."""


def fetch(url: str) -> bytes:
    """The URL's content; retried on network errors, never on a wrong answer."""
    if not url.startswith(("https://", "http://", "file://")):
        raise DownloadError(f"{url}: only https://, http:// and file:// URLs are fetched")
    last: Exception | None = None
    for _ in range(ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
                return response.read()
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
    raise DownloadError(f"{url}: {getattr(last, 'reason', last)} ({ATTEMPTS} attempts)")


def check(url: str, content: bytes, sha256: str | None, pem: bool) -> None:
    if sha256 is not None:
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256.lower():
            raise DownloadError(f"{url}: SHA-256 {actual}, expected {sha256}")
    if pem and PEM_BEGIN not in content:
        raise DownloadError(f"{url}: not a PEM certificate bundle ({len(content)} bytes)")


def write(dest: Path, content: bytes, mode: int) -> None:
    """Write atomically: a failed build never leaves half a file behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        Path(tmp).chmod(mode)
        Path(tmp).replace(dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="download.py", description=__doc__.split("\n")[0])
    p.add_argument("--sha256", help="the content's expected SHA-256 digest (hex)")
    p.add_argument("--pem", action="store_true", help="require PEM certificates")
    p.add_argument("--mode", default="0644", help="the file's mode, octal (default 0644)")
    p.add_argument("url")
    p.add_argument("dest", type=Path)
    args = p.parse_args(argv)
    try:
        content = fetch(args.url)
        check(args.url, content, args.sha256, args.pem)
        write(args.dest, content, int(args.mode, 8))
    except DownloadError as exc:
        print(f"download: {exc}", file=sys.stderr)
        return 1
    print(f"download: {args.url} -> {args.dest} ({len(content)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
