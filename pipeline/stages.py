"""Where a load's time goes: wall seconds per stage, cheap enough to be always on.

A load's stages interleave (extraction is a stream that the bronze write pulls; slices are
normalised, linked, validated and staged one after another), so a stage's time is the sum of
its spans, and time spent pulling a wrapped stream is moved from the enclosing stage to its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# What a load says as it goes (a line per step), for a CLI or a Dagster log.
Progress = Callable[[str], None]

# The stages of one table load, in pipeline order (the load report lists them in this order).
STAGES = (
    "extract", "bronze_write", "duplicates", "bronze_read", "normalise", "link", "validate", "stage",
    "quarantine_write", "merge", "reconcile", "bookkeeping",
)


class StageClock:
    """Wall seconds per stage, summed over its spans; and the process's CPU seconds over the same
    spans (every thread: Polars, Arrow and delta-rs work in Rust threads), which on a shared
    machine say more than wall seconds do."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def add(self, stage: str, seconds: float, cpu: float = 0.0) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start, time.process_time() - cpu)

    def pulling[T](self, name: str, items: Iterator[T], within: str) -> Iterator[T]:
        """`items`, with the time spent producing each counted as `name` and taken off `within`
        (the stage that consumes them), so the two never count the same second twice."""
        while True:
            start, cpu = time.perf_counter(), time.process_time()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                spent, spent_cpu = time.perf_counter() - start, time.process_time() - cpu
                self.add(name, spent, spent_cpu)
                self.add(within, -spent, -spent_cpu)
            yield item

    def report(self, *, cpu: bool = False) -> dict[str, float]:
        """Rounded seconds per stage (wall, or CPU), in pipeline order, stages never entered left out."""
        seconds = self.cpu if cpu else self.seconds
        known = [s for s in STAGES if s in seconds]
        other = sorted(s for s in seconds if s not in STAGES)
        return {s: round(max(seconds[s], 0.0), 4) for s in [*known, *other]}

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.report().items())
