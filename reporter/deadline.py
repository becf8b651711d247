"""The invocation's time budget, and a hard limit on each remote call within it.

Lambda kills a function at its timeout with "Task timed out", which hides which dependency hung.
So every remote call runs under `Deadline.call`: it gets at most what is left of the invocation
(minus a margin to log and fail, and minus what later steps still need), and if it has not
returned by then it is interrupted and `DependencyTimeoutError` names the dependency.

botocore's own timeouts cannot do this alone: its read timeout applies to each socket read, so
a service that trickles its answer a byte at a time never trips it, and its retries multiply it.
The interruption is a SIGALRM timer: its handler raises inside the blocked read, in the main
thread, where both the Lambda runtime client and the CLI run the handler. Where signals cannot
be used (another thread), calls keep only botocore's per-read timeouts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import DependencyTimeoutError

log = logging.getLogger(__name__)

# Kept back from the invocation's remaining time to log the failure and return the error.
MARGIN_S = 1.5


class _Interrupted(BaseException):
    """Raised by the timer inside the blocked call. A BaseException, so that no library's
    `except Exception` retry loop swallows it on its way out."""


class Deadline:
    """When this invocation must have finished its remote calls (time.monotonic() seconds)."""

    def __init__(self, at: float | None) -> None:
        self.at = at

    @classmethod
    def from_context(cls, context: Any) -> Deadline:
        """The Lambda invocation's deadline, less MARGIN_S; unbounded without a context."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if remaining_ms is None:
            return cls(None)
        return cls(time.monotonic() + remaining_ms() / 1000 - MARGIN_S)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (infinite when unbounded; never negative)."""
        if self.at is None:
            return math.inf
        return max(0.0, self.at - time.monotonic())

    def allowance(self, cap: float, keep: float = 0.0) -> float:
        """What one call may take: `cap`, or less if the rest needs `keep` of what is left."""
        return max(0.0, min(cap, self.remaining() - keep))

    @contextlib.contextmanager
    def call(self, dependency: str, cap: float, keep: float = 0.0) -> Iterator[float]:
        """Run the block as one remote call of at most `allowance(cap, keep)` seconds.

        Yields that allowance; raises DependencyTimeoutError naming `dependency` when the block
        is still running at its end (or when nothing is left to start it).
        """
        seconds = self.allowance(cap, keep)
        if seconds <= 0.05:
            raise DependencyTimeoutError(dependency, 0.0, started=False)
        finished = False
        with _alarm(seconds):
            try:
                yield seconds
                finished = True
            except _Interrupted:
                pass
        if not finished:
            raise DependencyTimeoutError(dependency, seconds)


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise _Interrupted in the block if it is still running after `seconds`."""
    if threading.current_thread() is not threading.main_thread():
        log.debug("not in the main thread: no hard limit on this call")
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Interrupted:
        pass  # it went off just as the block finished, inside the finally above
    finally:
        # None: the previous handler was not set from Python; the default is the closest.
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
