"""Suite-wide rule: in CI a skipped test is a failure, so a missing service cannot hide."""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; nothing may skip in CI", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
