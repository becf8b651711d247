"""The containers suite (`make test-containers`): the shipped Dockerfile and compose file on a
real Docker engine, with stand-ins only for the images this machine cannot pull.

Everything is built from a copy of the repository made the way a checkout under `umask 077`
leaves it (files 0600, scripts 0700), so an image that needs a file to be readable by others
fails here. The images' sizes and the stack's timings are printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from containers.suite import FIGURES, TARGETS, Built, Standins, megabytes
from support.aws import moto_server
from support.database import Server, throwaway_database
from support.engine import docker, ensure_engine, image_size
from support.standins import PythonBase, localstack_image, mysql_image, python_image
from support.tools import REPO_ROOT


@pytest.fixture(scope="session")
def engine() -> str:
    began = time.monotonic()
    version = ensure_engine()
    FIGURES.add(f"engine: Docker Engine {version} ({time.monotonic() - began:.0f} s to answer)")
    return version


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files (tracked and new, not ignored) as a umask 077 checkout has them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    root = Path(tempfile.mkdtemp(prefix="cafe-checkout-", dir=tmp_path_factory.getbasetemp()))
    root.chmod(0o700)
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(source, target)
        target.chmod(0o700 if os.access(source, os.X_OK) else 0o600)
    for directory in root.rglob("*"):
        if directory.is_dir():
            directory.chmod(0o700)
    return root


@pytest.fixture(scope="session")
def standins(engine: str) -> Standins:
    """Every stand-in image, built at once (downloads overlap) unless this machine has them."""
    began = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        python, mysql, localstack = (
            pool.submit(build) for build in (python_image, mysql_image, localstack_image)
        )
        built = Standins(python.result(), mysql.result(), localstack.result())
    FIGURES.add(f"stand-in images ready: {time.monotonic() - began:.0f} s")
    for tag in (built.python.tag, built.mysql, built.localstack):
        FIGURES.add(f"size of stand-in {tag}: {megabytes(image_size(tag))}")
    return built


@pytest.fixture(scope="session")
def base(standins: Standins) -> PythonBase:
    return standins.python


@pytest.fixture(scope="session")
def images(engine: str, checkout: Path, base: PythonBase) -> Built:
    """All targets, built with the classic builder (Engine 20.10's default) from the checkout."""
    tags: dict[str, str] = {}
    for target in TARGETS:
        tag = f"cafe-ctest/{target}:latest"
        began = time.monotonic()
        command = ["build", "--file", "docker/Dockerfile", "--target", target, *base.build_flags()]
        docker(*command, "--tag", tag, checkout, env={"DOCKER_BUILDKIT": "0"}, timeout=1800)
        tags[target] = tag
        FIGURES.add(f"build {target} (classic builder): {time.monotonic() - began:.0f} s")
    base_size = image_size(base.tag)
    FIGURES.add(f"size of the stand-in base: {megabytes(base_size)}")
    for target, tag in tags.items():
        size = image_size(tag)
        FIGURES.add(
            f"size of {target}: {megabytes(size)} (+{megabytes(size - base_size)} over the base)"
        )
    return Built(tags, base_size)


@pytest.fixture(scope="session")
def server() -> Server:
    """This machine's MariaDB/MySQL (TEST_DB_*), as the integration tests use it."""
    return Server.from_env()


@pytest.fixture
def cafe_db(server: Server) -> Iterator[str]:
    with throwaway_database(server, seed=True) as name:
        yield name


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES.lines:
        terminalreporter.section("containers: figures")
        for line in FIGURES.lines:
            terminalreporter.write_line(line)
