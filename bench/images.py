"""Where measured code runs: image-like /var/task directories, or the development venv.

An image's /var/task holds one function's package and its pinned dependencies, as
docker/install.sh installs them (pip --target, wheels only, then bytecode compiled), and nothing
else: no moto, no cryptography (which PyMySQL imports when it finds it). Lambda mounts /var/task
read-only, so Python cannot cache the bytecode it compiles: each cold start compiles every
module that has no .pyc. Both variants are built here, with and without .pyc files, and run as
`python -S` (no site-packages: only /var/task and the standard library) with bytecode writing
off. `--env dev` instead runs everything in the development venv (no pip needed).
"""

from __future__ import annotations

import compileall
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import OUT_DIR, REPO_ROOT
from bench.trees import PACKAGES, python_env

TASKS = OUT_DIR / "tasks"
RUNTIME_REQUIREMENTS = REPO_ROOT / "docker" / "requirements-runtime.txt"
POWERTOOLS_REPORTER = "reporter-powertools"  # the reporter's /var/task plus Powertools


@dataclass(frozen=True)
class Runtime:
    """A Python environment to run measured code in: its directory, command and variables."""

    label: str
    cwd: Path
    python: tuple[str, ...] = (sys.executable,)
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        return [*self.python, *args]


def dev_runtime(label: str, tree: Path, *, pythonpath: Path | None = None) -> Runtime:
    """The development venv, with `tree`'s functions first on the path."""
    return Runtime(label, tree, env=python_env(pythonpath=pythonpath))


def task_runtime(label: str, task: Path) -> Runtime:
    """An image-like /var/task: nothing but it and the standard library, bytecode read-only."""
    env = python_env(pythonpath=task, no_pyc=True)
    return Runtime(label, task, (sys.executable, "-S"), env)


def _requirements(function: str) -> list[Path]:
    if function == "lab":
        # The lab's functions: boto3 (Lambda's Python runtime had it) and a bare PyMySQL in the
        # zip, at our pins, without extras (the lab's zip had no cryptography).
        pins = (REPO_ROOT / "extractor" / "requirements.txt").read_text(encoding="utf-8")
        version = re.search(r"(?im)^pymysql(?:\[[^\]]*\])?==([\w.]+)", pins)
        lab = TASKS / "lab-requirements.txt"
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(f"PyMySQL=={version.group(1) if version else '1.2.4'}\n")
        return [REPO_ROOT / "reporter" / "requirements.txt", lab]
    if function == POWERTOOLS_REPORTER:
        # The reporter's image as it would be with Powertools' idempotency utility: its pin
        # comes from requirements-dev.txt (a bench dependency only, never in the images).
        extra = TASKS / "powertools-requirements.txt"
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_text(powertools_requirement() + "\n")
        return [REPO_ROOT / "reporter" / "requirements.txt", RUNTIME_REQUIREMENTS, extra]
    return [REPO_ROOT / function / "requirements.txt", RUNTIME_REQUIREMENTS]


def powertools_requirement() -> str:
    """The pinned `aws-lambda-powertools==X` line of requirements-dev.txt."""
    pins = (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    found = re.search(r"(?im)^aws-lambda-powertools==[\w.]+", pins)
    if found is None:
        raise RuntimeError("requirements-dev.txt pins no aws-lambda-powertools (make venv)")
    return found.group(0)


def deps_dir(function: str, *, log=print) -> Path:
    """The function's dependencies installed without bytecode (cached by requirements)."""
    files = _requirements(function)
    digest = hashlib.sha256(
        b"".join(f.read_bytes() for f in files) + sys.version.encode()
    ).hexdigest()[:10]
    dest = TASKS / f"deps-{function}-{digest}"
    if (dest / ".complete").exists():
        return dest
    log(f"installing {function}'s dependencies into {dest.relative_to(REPO_ROOT)} (pip)")
    shutil.rmtree(dest, ignore_errors=True)
    args = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-input", "--target", str(dest), "--only-binary=:all:", "--no-compile",
    ]  # fmt: skip
    for requirement in files:
        args += ["--requirement", str(requirement)]
    completed = subprocess.run(args, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"pip could not install {function}'s requirements (use --env dev to measure in the "
            f"development venv instead):\n{completed.stderr[-2000:]}"
        )
    shutil.rmtree(dest / "bin", ignore_errors=True)
    for cache in dest.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    (dest / ".complete").touch()
    return dest


def task_dir(name: str, function: str, code: Path | None, *, compiled: bool, log=print) -> Path:
    """/var/task for `function` (its dependencies, hard-linked) with `code`'s package in it.

    `function` is extractor, reporter, lab (both packages, the lab's dependencies) or
    POWERTOOLS_REPORTER (the reporter with Powertools installed beside it).
    """
    deps = deps_dir(function, log=log)
    dest = TASKS / name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(deps, dest, copy_function=os.link, ignore=shutil.ignore_patterns(".complete"))
    if code is not None:
        packages = {"lab": PACKAGES, POWERTOOLS_REPORTER: ("reporter",)}.get(function, (function,))
        for package in packages:
            shutil.copytree(
                code / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
            )
    if compiled:  # what `python -m compileall /var/task` in the image build would leave
        compileall.compile_dir(dest, quiet=2, workers=0)
    return dest


def tree_bytes(path: Path) -> int:
    """The bytes of every file under `path` (its .pyc included): what it adds to an image."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
