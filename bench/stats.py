"""Timing helpers: medians of repeated runs, within a time budget."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Repeated measurements of one thing, in milliseconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> str:
        """min-max, for the table's notes."""
        return f"{min(self.samples):.3g}-{max(self.samples):.3g}"

    def as_dict(self) -> dict[str, Any]:
        return {"median_ms": self.median, "runs": len(self.samples), "samples_ms": self.samples}


def repeat(
    run: Callable[[], float | None],
    *,
    times: int,
    budget_s: float = 60.0,
    minimum: int = 3,
    warmup: int = 1,
) -> Timing:
    """Call `run` `times` times (fewer if over `budget_s`, never fewer than `minimum`).

    `run` returns its own measurement in ms, or None to be timed here by the wall clock.
    The `warmup` calls come first and are not counted.
    """
    for _ in range(warmup):
        run()
    samples: list[float] = []
    began = time.perf_counter()
    while len(samples) < times:
        start = time.perf_counter()
        measured = run()
        samples.append(measured if measured is not None else ms_since(start))
        if len(samples) >= minimum and time.perf_counter() - began > budget_s:
            break
    return Timing(tuple(samples))


def repeat_slow(
    run: Callable[[], float | None], *, times: int, budget_s: float, minimum: int
) -> Timing:
    """As `repeat`, but when the first (warm-up) run alone exceeds `budget_s` it is the only
    sample: a baseline that takes minutes is measured once, not four times."""
    start = time.perf_counter()
    measured = run()
    first = measured if measured is not None else ms_since(start)
    if first > budget_s * 1000:
        return Timing((first,))
    return repeat(run, times=times, budget_s=budget_s, minimum=minimum, warmup=0)


class CpuMeter:
    """The machine's load over a block: load average, and the CPU share stolen or busy."""

    def __enter__(self) -> CpuMeter:
        self._speed = speed_ms()
        self._start = _cpu_times()
        self.result: dict[str, float] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        end = _cpu_times()
        if not self._start or not end:
            return
        delta = [b - a for a, b in zip(self._start, end, strict=True)]
        total = sum(delta[:8]) or 1  # user nice system idle iowait irq softirq steal
        self.result = {
            "busy_pct": 100 * (total - delta[3] - delta[4]) / total,
            "steal_pct": 100 * delta[7] / total,
            "loadavg_1min": os.getloadavg()[0],
            "speed_ms": self._speed,
        }


def speed_ms() -> float:
    """A fixed pure-Python workload (sum of 10^6 ints), best of 5, in ms: how fast this
    machine's CPU was at the time. On a shared VM it varies; compare figures through it."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        sum(range(1_000_000))
        best = min(best, ms_since(start))
    return best


def _cpu_times() -> list[int]:
    try:
        with open("/proc/stat") as stat:  # noqa: PTH123 (a hot path: one line, no Path object)
            return [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def median(values: list[float]) -> float:
    return statistics.median(values)
