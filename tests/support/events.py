"""Sample events, kept as JSON files under tests/events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> Any:
    """The parsed contents of tests/events/<name>.json (a fresh copy each call)."""
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
