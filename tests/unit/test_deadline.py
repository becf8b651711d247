"""The invocation's deadline and the hard limit on each remote call (real SIGALRM, no I/O)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from reporter.deadline import MARGIN_S, Deadline
from reporter.errors import DependencyTimeoutError


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_deadline_from_context_keeps_a_margin_to_fail() -> None:
    deadline = Deadline.from_context(Context(10_000))
    assert 10 - MARGIN_S - 0.1 < deadline.remaining() <= 10 - MARGIN_S


def test_deadline_without_context_is_unbounded_but_calls_keep_their_cap() -> None:
    deadline = Deadline.from_context(None)
    assert deadline.remaining() == float("inf")
    assert deadline.allowance(5.0) == 5.0


def test_allowance_keeps_what_later_steps_need() -> None:
    deadline = Deadline.after(10)
    assert 6.8 < deadline.allowance(cap=60, keep=3) <= 7
    assert deadline.allowance(cap=2, keep=3) == 2
    assert deadline.allowance(cap=60, keep=20) == 0


def test_a_call_still_running_at_its_allowance_is_interrupted_and_named() -> None:
    deadline = Deadline.after(0.3)
    began = time.monotonic()
    with (
        pytest.raises(DependencyTimeoutError, match=r"^SSM did not answer within 0\.3 s"),
        deadline.call("SSM", cap=5),
    ):
        time.sleep(5)  # a blocked read: the timer interrupts it
    assert time.monotonic() - began < 1
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_call_that_finishes_leaves_no_timer_and_the_old_handler() -> None:
    before = signal.getsignal(signal.SIGALRM)
    with Deadline.after(5).call("DynamoDB", cap=1) as seconds:
        assert seconds == 1
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before
    time.sleep(1.1)  # nothing goes off later


def test_a_call_with_no_time_left_is_not_started() -> None:
    deadline = Deadline.after(1)
    with (
        pytest.raises(DependencyTimeoutError, match="was not called") as caught,
        deadline.call("SNS", cap=5, keep=2),
    ):
        pytest.fail("must not run")
    assert caught.value.started is False


def test_an_error_inside_the_call_passes_through_unchanged() -> None:
    with pytest.raises(KeyError), Deadline.after(5).call("SSM", cap=1):
        raise KeyError("x")
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_outside_the_main_thread_calls_run_without_a_timer() -> None:
    outcome: list[object] = []

    def work() -> None:
        with Deadline.after(5).call("SSM", cap=0.2):
            time.sleep(0.3)
        outcome.append("finished")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert outcome == ["finished"]
