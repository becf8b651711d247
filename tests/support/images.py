"""The images' contents rebuilt on this machine, and each function started from them.

`docker/install.sh` is what the Dockerfile runs to fill /var/task; here it fills a temporary
directory instead (pip's cache allowed, for speed), once per test session. A function then runs
from that directory alone: `python -S` keeps this virtualenv's site-packages out, so a dependency
the image lacks fails here too, and the handler comes from the Dockerfile's CMD.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support.dockerfile import Dockerfile
from support.runtime_api import LambdaProcess
from support.tools import REPO_ROOT, clean_env

INSTALL_SH = REPO_ROOT / "docker" / "install.sh"
FUNCTIONS = ("extractor", "reporter")


def install(
    function: str,
    target: Path,
    *,
    arch: str | None = None,
    python_version: str | None = None,
    step: str = "all",
) -> subprocess.CompletedProcess[str]:
    """Run docker/install.sh for one function into `target`; raise with its output if it fails."""
    env_extra = {"PYTHON": sys.executable}
    if arch is not None:
        env_extra["TARGET_ARCH"] = arch
    if python_version is not None:
        env_extra["TARGET_PYTHON"] = python_version
    result = subprocess.run(
        ["bash", str(INSTALL_SH), step, function, str(target)],
        env=clean_env(env_extra, drop=("PIP_NO_CACHE_DIR", "TARGET_ARCH", "TARGET_PYTHON")),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"docker/install.sh {step} {function} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


@functools.cache
def task_roots() -> dict[str, Path]:
    """Each function's /var/task, as the image build fills it, for this interpreter's platform.

    Built once per session (both at once) under a temporary directory removed at exit.
    """
    base = Path(tempfile.mkdtemp(prefix="cafe-task-roots-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    roots = {function: base / function for function in FUNCTIONS}
    with ThreadPoolExecutor(len(FUNCTIONS)) as pool:
        for future in [pool.submit(install, f, roots[f]) for f in FUNCTIONS]:
            future.result()
    return roots


def handler(function: str) -> str:
    """The function's handler, read from its image's CMD (exec form, one element)."""
    cmd = Dockerfile.read().last(function, "CMD").json_args()
    if not (isinstance(cmd, list) and len(cmd) == 1 and isinstance(cmd[0], str)):
        raise AssertionError(f"the {function} image's CMD must be [handler], not {cmd!r}")
    return cmd[0]


def function_process(
    function: str,
    env: Mapping[str, str] | None = None,
    *,
    command: Sequence[str] | None = None,
    **options: object,
) -> LambdaProcess:
    """The function started as its image starts it, from its rebuilt task root, under the harness.

    The image's ENV applies; LAMBDA_TASK_ROOT and PYTHONPATH point at the rebuilt directory.
    `command` replaces the runtime client's command line (default: `python -S -m awslambdaric
    <the CMD's handler>`, what the entry script runs inside Lambda).
    """
    root = task_roots()[function]
    name = handler(function)
    image_env = Dockerfile.read().env(function)
    return LambdaProcess(
        name,
        cwd=root,
        command=command or [sys.executable, "-S", "-m", "awslambdaric", name],
        env={
            **image_env,
            "LAMBDA_TASK_ROOT": str(root),
            "PYTHONPATH": str(root),
            **(env or {}),
        },
        **options,  # type: ignore[arg-type]
    )
