"""Code trees to compare: the working tree, and the functions as they were at a baseline commit.

A baseline tree is `git archive <ref> extractor reporter` unpacked under bench/out/, so the
before/after figures of every code change are measured in the same run on the same machine.
"""

from __future__ import annotations

import ast
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from bench import OUT_DIR, REPO_ROOT

PACKAGES = ("extractor", "reporter")
# main just before issue 8 (the delivery record and the deadlines): the "without" of
# bench/RESULTS.md. `--baseline-ref HEAD` measures an uncommitted change against the committed.
DEFAULT_BASELINE_REF = "ef81d1e"


def git_tree(ref: str) -> tuple[str, Path]:
    """Unpack the functions at `ref` (once); return (short sha, its directory)."""
    sha = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest = OUT_DIR / f"tree-{sha[:12]}"
    if not (dest / ".complete").exists():
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", sha, *PACKAGES],
            check=True,
            capture_output=True,
        ).stdout
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        (dest / ".complete").touch()
    return sha[:7], dest


def sales_query(tree: Path) -> str:
    """The SALES_QUERY string literal of `tree`'s extractor/sales.py (read, not imported)."""
    module = ast.parse((tree / "extractor" / "sales.py").read_text(encoding="utf-8"))
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SALES_QUERY" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise ValueError(f"no SALES_QUERY in {tree}/extractor/sales.py")


def source_only_copy(name: str = "tree-now-source-only") -> Path:
    """The working tree's functions without any .pyc: what an image without compileall runs."""
    dest = OUT_DIR / name
    shutil.rmtree(dest, ignore_errors=True)
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return dest


def python_env(*, pythonpath: Path | None = None, no_pyc: bool = False) -> dict[str, str]:
    """The environment for a measured subprocess: ours, minus anything that changes imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    if no_pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
