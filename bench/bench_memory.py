"""Where a full sync's peak memory comes from: RSS sampled per stage of one load, in-process.

    uv run --group bench python -m bench.bench_memory --work .ndc/bench1m
    uv run --group bench python -m bench.bench_memory --work .ndc/bench1m --chunk-rows 100000

Runs our full sync of the bench table (`python -m bench` made it in `--work`; its server is
started or reused) with a thread sampling this process's RSS every 20 ms. Arrow, Polars and
delta-rs allocate natively, so a Python allocation tracer sees little of it: RSS is the figure.
Each sample is charged to the stage running then (pipeline/stages.py's clock, wrapped), so the
output says, per stage, the RSS on entering it and the highest RSS seen inside it, in pipeline
order; and the process's peak (VmHWM). The extraction child's own memory is not in it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from bench import methods, source


class Sampler:
    """RSS every `period_s`, charged to the innermost stage open at the time."""

    def __init__(self, period_s: float = 0.02) -> None:
        self.period_s = period_s
        self.process = psutil.Process()
        self.stack: list[str] = ["start"]
        self.peak: dict[str, int] = {}
        self.entry: dict[str, int] = {}
        self.order: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.process.memory_info().rss
            stage = self.stack[-1]
            self.peak[stage] = max(self.peak.get(stage, 0), rss)
            time.sleep(self.period_s)

    def enter(self, stage: str) -> None:
        rss = self.process.memory_info().rss
        if stage not in self.entry:
            self.entry[stage] = rss
            self.order.append(stage)
        self.stack.append(stage)

    def leave(self) -> None:
        self.stack.pop()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _wrap_clock(sampler: Sampler) -> None:
    from pipeline import stages

    original = stages.StageClock.stage

    @contextmanager
    def stage(self: stages.StageClock, name: str) -> Iterator[None]:
        sampler.enter(name)
        try:
            with original(self, name):
                yield
        finally:
            sampler.leave()

    stages.StageClock.stage = stage  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(".ndc/bench"), help="the harness's --work (table made)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouse (in --work/memory-wh)")
    parser.add_argument("--chunk-rows", type=int, help="override pipeline.bronze.CHUNK_ROWS for this run")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    server = source.start_server(work / "postgres")
    rows = json.loads((work / "table.json").read_text())["rows"]
    warehouse_dir = work / "memory-wh"
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    if args.chunk_rows:
        import pipeline.bronze
        import pipeline.judge
        import pipeline.load

        for module in (pipeline.bronze, pipeline.judge, pipeline.load):
            module.CHUNK_ROWS = args.chunk_rows  # type: ignore[attr-defined]
    sampler = Sampler()
    _wrap_clock(sampler)
    arguments = {"url": server.url(source.DATABASE), "table": source.TABLE, "rows": rows,
                 "warehouse": str(warehouse_dir)}
    with sampler:
        sampler.enter("imports")
        result = methods.ours(arguments)
        sampler.leave()
    if not args.keep:
        shutil.rmtree(warehouse_dir, ignore_errors=True)
    mib = 1 << 20
    print(f"{rows:,} rows, chunk {args.chunk_rows or 'default'}: wall {result['wall_s']:.1f}s, "
          f"CPU {result['cpu_s']:.1f}s, peak RSS {result['peak_rss_mib']:.0f} MiB (VmHWM), "
          f"extraction child {result['extract_child_peak_rss_mib']:.0f} MiB; pid {os.getpid()}")
    print(f"{'stage':<18}{'RSS in MiB':>12}{'peak MiB':>10}")
    for stage in sampler.order:
        print(f"{stage:<18}{sampler.entry[stage] / mib:>12.0f}{sampler.peak.get(stage, 0) / mib:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
