"""Time `demo.generator.generate` at 100k and 1M citizens: seconds, rows/s, peak RSS.

Each size runs in its own child process so its peak RSS (getrusage ru_maxrss) is its own.
Usage: uv run python bench/bench_generator.py [citizens ...]   (default: 100000 1000000)
"""

from __future__ import annotations

import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from demo.generator import generate
started = time.perf_counter()
result = generate(Path(sys.argv[1]), citizens=int(sys.argv[2]), seed=6)
seconds = time.perf_counter() - started
size = sum(p.stat().st_size for p in Path(sys.argv[1]).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "rows": sum(result.tables.values()),
                  "tables": result.tables, "bytes": size,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def measure(citizens: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="ndc-bench-"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(workdir / "demo"), str(citizens)],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(sizes: list[int]) -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {resource.getpagesize()} B pages")
    print(f"{'citizens':>10} {'rows':>11} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10} {'on disk':>9}")
    for citizens in sizes:
        started = time.perf_counter()
        figures = measure(citizens)
        wall = time.perf_counter() - started
        rows, seconds = int(figures["rows"]), float(figures["seconds"])
        print(
            f"{citizens:>10,} {rows:>11,} {seconds:>8.1f} {rows / seconds:>10,.0f} "
            f"{int(figures['peak_rss_kib']) / 1024:>8,.0f} MiB "
            f"{int(figures['bytes']) / 2**20:>6,.0f} MiB   (process wall {wall:.1f} s)"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
