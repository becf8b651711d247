"""Returns the event with what the runtime passed in, so tests can check both ends."""

import itertools
import os
from typing import Any

# Counts invocations in this process: a warm sandbox keeps module state between them.
_CALLS = itertools.count(1)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Return the event, the context's fields, the process id and the invocation count."""
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
        "calls": next(_CALLS),
        "environ": dict(os.environ),
    }
