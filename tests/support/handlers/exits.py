"""Ends its own process, like a crash in native code, so tests can see Runtime.ExitError."""

import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    """Exit at once with event["status"] (default 3), skipping the runtime's error handling."""
    os._exit(int(event.get("status", 3)))
