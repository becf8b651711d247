"""What each function imports at cold start, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from support.database import REPO_ROOT


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_extractor_handler_does_not_import_boto3() -> None:
    # The lab's extractor imported boto3 it never used: a slower cold start for nothing.
    modules = imported_after("extractor.handler")
    assert "pymysql" in modules
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore")}


def test_reporter_handler_does_not_import_the_extractor() -> None:
    # The functions share no code at run time: each image holds only its own package.
    modules = imported_after("reporter.handler")
    assert "boto3" in modules
    assert not {m for m in modules if m.split(".")[0] in ("extractor", "pymysql")}
