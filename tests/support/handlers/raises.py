"""Raises a custom exception, so tests can check how an unhandled error reaches the caller."""

from typing import Any


class CafeTestError(Exception):
    """A custom error whose name must reach the caller as errorType."""


def handler(event: dict[str, Any], context: Any) -> None:
    """Raise CafeTestError with the event's message."""
    raise CafeTestError(event.get("message", "the handler failed"))
