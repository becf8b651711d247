"""Sleeps as long as the event asks, so tests can run past the timeout."""

import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, float]:
    """Sleep event["seconds"], then say so."""
    seconds = float(event["seconds"])
    time.sleep(seconds)
    return {"slept": seconds}
