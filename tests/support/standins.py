"""The stand-in images for what a machine without a registry cannot pull, built here and cached.

Each recipe lives under tests/containers/standins/<name>/ and says in its first lines how far
it is from the real image:

- `python_image()` for `python:3.12-slim-bookworm` (the functions' PYTHON_IMAGE), carrying the
  emulator stand-in and a test CA for the build arguments RIE_RELEASES and RDS_CA_BUNDLE_URL;
- `mysql_image()` for `mysql:8.4`: Debian's MySQL server with the official image's start-up;
- `localstack_image()` for `localstack/localstack:4.14.0`: the real localstack-core from PyPI.

The first call on a machine builds (minutes); later ones find the image by its tag, a hash of
everything it is made from.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from support.dockerfile import Dockerfile
from support.engine import STANDINS, DebianRoot, build_image
from support.tools import REPO_ROOT

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"PATH": PATH, "LANG": "C.UTF-8"}
# Debian trixie: Python 3.13, which localstack-core 4.14.0 wants, for the functions too.
TRIXIE_PYTHON = DebianRoot(
    "trixie-python",
    "trixie",
    ["python3", "python3-pip", "python3-venv", "ca-certificates", "curl"],
    BASE_ENV,
    cmd=("python3",),
)
# The only MySQL server in Debian's packages is sid's (MySQL 9.7 when this was written).
SID_MYSQL = DebianRoot(
    "sid-mysql",
    "sid",
    ["mysql-server", "mysql-client", "tzdata", "ca-certificates"],
    BASE_ENV,
    # The package's maintainer script initialised a data directory: the image starts empty.
    hooks=('rm -rf "$1/var/lib/mysql"',),
)
RIE_STANDIN = STANDINS / "rie"
RIE_MODULES = (RIE_STANDIN / "__main__.py", REPO_ROOT / "tests" / "support" / "runtime_api.py")
RIE_ASSETS = ("aws-lambda-rie-x86_64", "aws-lambda-rie-arm64")
TEST_RDS_CA = STANDINS / "python" / "test-rds-ca.pem"
# The Debian root's files, as the image build reaches them through its build arguments.
STANDIN_DIR = "/opt/cafe-standin"


@dataclass(frozen=True)
class PythonBase:
    """The functions' base image stand-in, and the build arguments that point the Dockerfile
    at what it carries instead of the internet."""

    tag: str
    rie_sha256: str

    def build_args(self) -> dict[str, str]:
        return {
            "PYTHON_IMAGE": self.tag,
            "RIE_RELEASES": f"file://{STANDIN_DIR}/rie-releases",
            "RIE_SHA256_AMD64": self.rie_sha256,
            "RIE_SHA256_ARM64": self.rie_sha256,
            "RDS_CA_BUNDLE_URL": f"file://{STANDIN_DIR}/test-rds-ca.pem",
        }

    def build_flags(self) -> list[str]:
        """`docker build` flags for build_args()."""
        return [f for k, v in self.build_args().items() for f in ("--build-arg", f"{k}={v}")]


def rie_zipapp(dest: Path) -> str:
    """The emulator stand-in as one executable zip (the same bytes every time); its SHA-256."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in RIE_MODULES:
            info = zipfile.ZipInfo(module.name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, module.read_bytes())
    content = b"#!/usr/bin/env python3\n" + dest.read_bytes()
    dest.write_bytes(content)
    dest.chmod(0o755)
    return hashlib.sha256(content).hexdigest()


def rie_version() -> str:
    """The emulator release the Dockerfile pins (its rie stage's RIE_VERSION default)."""
    for instruction in Dockerfile.read().stage("rie").instructions:
        name, _, default = instruction.args.partition("=")
        if instruction.keyword == "ARG" and name == "RIE_VERSION":
            return default
    raise AssertionError("docker/Dockerfile: the rie stage declares no RIE_VERSION")


@functools.cache
def python_image() -> PythonBase:
    root = TRIXIE_PYTHON.ensure()
    with tempfile.TemporaryDirectory(prefix="cafe-python-standin-") as tmp:
        context = Path(tmp)
        shutil.copy(STANDINS / "python" / "Dockerfile", context / "Dockerfile")
        shutil.copy(TEST_RDS_CA, context / TEST_RDS_CA.name)
        releases = context / "rie-releases" / rie_version()
        releases.mkdir(parents=True)
        sha256 = ""
        for asset in RIE_ASSETS:  # architecture-independent: Python
            sha256 = rie_zipapp(releases / asset)
        tag = build_image("python", context, {"ROOTFS": root})
    return PythonBase(tag, sha256)


@functools.cache
def mysql_image() -> str:
    """The mysql:8.4 stand-in's tag (`docker run -e MYSQL_ROOT_PASSWORD=... <tag>`)."""
    return build_image("mysql", STANDINS / "mysql", {"ROOTFS": SID_MYSQL.ensure()})


@functools.cache
def localstack_image() -> str:
    return build_image("localstack", STANDINS / "localstack", {"ROOTFS": TRIXIE_PYTHON.ensure()})
