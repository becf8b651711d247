"""Fails at import, like a function whose image lacks a dependency."""

from typing import Any

import cafe_dependency_missing_from_the_image  # noqa: F401


def handler(event: Any, context: Any) -> None:
    """Never runs: the import above fails first."""
