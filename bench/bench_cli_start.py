"""Start-up of the thin `ndc` commands: `ndc --version`, `ndc tables`, `ndc sql "SELECT 1"`, each run
N times as a fresh process, with the median wall and CPU seconds and the ten slowest imports.

    uv run python bench/bench_cli_start.py                       # this checkout, 5 runs per command
    uv run python bench/bench_cli_start.py --runs 9
    uv run python bench/bench_cli_start.py --baseline /tmp/ndc-main   # also another checkout, interleaved

Each run is `python -m orchestration.cli …` with the checkout as working directory (its modules
come first on sys.path), so `--baseline DIR` (e.g. `git archive main | tar -x -C DIR`) times the
same commands from another version in the same run of the machine: runs alternate between the
checkouts, so a load spike costs both alike. `uv run ndc …` adds uv's own start (~0.1 s) on top.

Needs a warehouse (`uv run ndc demo` first; `--warehouse` points elsewhere). Nothing is written to
it: DAGSTER_HOME and the `ndc sql` audit trail (NDC_AUDIT_URI) go to a temporary folder. CPU
seconds (user + system of the child) are the figure to compare on a shared machine; wall seconds
there are upper bounds. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS: dict[str, list[str]] = {
    "ndc --version": ["--version"],
    "ndc tables": ["tables"],
    'ndc sql "SELECT 1"': ["sql", "SELECT 1 AS n", "--format", "json"],
}
HEAVY = ("dagster", "great_expectations", "deltalake", "duckdb", "polars", "pandas", "pyarrow")
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def child_env(warehouse: str, scratch: Path) -> dict[str, str]:
    env = {**os.environ, "NDC_WAREHOUSE_URI": warehouse}
    env["DAGSTER_HOME"] = str(scratch / "dagster")
    env["NDC_AUDIT_URI"] = str(scratch / "audit")
    env.pop("NDC_DEBUG", None)
    return env


def run_once(project: Path, args: list[str], env: dict[str, str], *, importtime: bool = False):
    """(wall s, CPU s, stderr) of one `python -m orchestration.cli <args>` in `project`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "orchestration.cli", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if not line.startswith("import time:")][-5:]
        raise SystemExit(f"{project}: ndc {' '.join(args)} failed ({done.returncode}): {' / '.join(tail)}")
    return wall, cpu, done.stderr


def slowest_imports(stderr: str, top: int = 10) -> tuple[list[tuple[str, float]], float, set[str]]:
    """The `top` slowest imports a command's own code asked for (cumulative ms; each entry's nested
    imports are inside its figure), the total of every import, and which heavy packages loaded."""
    entries, total, loaded = [], 0.0, set()
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        total += int(self_us) / 1000
        loaded.add(name.split(".")[0])
        if len(indent) == 1:  # asked for by the program itself, not nested in another import
            entries.append((name, int(cumulative_us) / 1000))
    entries.sort(key=lambda entry: -entry[1])
    return entries[:top], total, {name for name in HEAVY if name in loaded}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="Runs of each command per checkout.")
    parser.add_argument("--baseline", type=Path, help="Another checkout to time alongside this one.")
    parser.add_argument(
        "--warehouse", default=str(ROOT / ".ndc" / "warehouse"), help="The warehouse to list and query."
    )
    parser.add_argument("--top", type=int, default=10, help="Slowest imports shown per command.")
    args = parser.parse_args(argv)
    projects = {"this checkout": ROOT}
    if args.baseline is not None:
        projects = {"baseline": args.baseline.resolve(), **projects}
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="ndc-bench-cli-") as scratch:
        env = child_env(args.warehouse, Path(scratch))
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for command, command_args in COMMANDS.items():
            for project in projects.values():  # warm the file cache and .pyc files first
                run_once(project, command_args, env)
            for _ in range(args.runs):
                for label, project in projects.items():
                    wall, cpu, _ = run_once(project, command_args, env)
                    figures.setdefault((command, label), []).append((wall, cpu))
        print(f"\nmedian of {args.runs} runs (python -m orchestration.cli …):\n")
        print("| command | checkout | wall s | CPU s | min wall s |\n|---|---|---:|---:|---:|")
        for (command, label), runs in figures.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"| `{command}` | {label} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} "
                f"| {min(walls):.2f} |"
            )
        for command, command_args in COMMANDS.items():
            for label, project in projects.items():
                _, _, stderr = run_once(project, command_args, env, importtime=True)
                top, total, heavy = slowest_imports(stderr, args.top)
                print(
                    f"\n{command} ({label}): imports {total:,.0f} ms in all (-X importtime); heavy packages "
                    f"loaded: {', '.join(sorted(heavy)) or 'none'}"
                )
                for name, ms in top:
                    print(f"  {ms:9,.0f} ms  {name}")
    print(f"\nload average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
