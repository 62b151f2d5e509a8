"""Step start-up of nightly_sync runs launched like `ndc sync` does: forkserver (the project's
executor, heavy modules preloaded) against `spawn` (Dagster's default, which re-imports everything
in every step), on the same warehouse and the same (incremental, usually empty) night.

    uv run python bench/bench_startup.py --tables population.citizens,business.enterprises,welfare.payments
    uv run python bench/bench_startup.py --run-id <id>      # only read an existing run's events
    uv run python bench/bench_startup.py --processes 3      # a step's process alone, by start method

Per step: start-up = "Launching subprocess" (STEP_WORKER_STARTING) to STEP_START, and STEP_START to
the load's first log line; per run: RUN_START to the run's end, and the launch to the end. Needs a
loaded warehouse (`uv run ndc demo` first); runs go to a temporary DAGSTER_HOME unless
--dagster-home is given. Figures depend on the machine's load: compare the two start methods of
one invocation, not figures across machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration import launch  # noqa: E402
from orchestration.local_defaults import set_local_defaults  # noqa: E402


@dg.definitions
def spawn_defs() -> dg.Definitions:
    """The project's Definitions with Dagster's default start method, for the comparison."""
    import orchestration.definitions as project

    project.executor = dg.multiprocess_executor.configured(
        {"start_method": {"spawn": {}}}, name="multiprocess_spawn"
    )
    return project.build_definitions()


def step_figures(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, float]]:
    """step → {start-up s, to first log s}, from the run's event log timestamps."""
    starting: dict[str, float] = {}
    started: dict[str, float] = {}
    first_log: dict[str, float] = {}
    for record in instance.get_records_for_run(run_id, limit=100_000).records:
        entry = record.event_log_entry
        step, event = entry.step_key, entry.dagster_event
        if step is None:
            continue
        kind = event.event_type_value if event is not None else None
        if kind == "STEP_WORKER_STARTING":
            starting.setdefault(step, entry.timestamp)
        elif kind == "STEP_START":
            started.setdefault(step, entry.timestamp)
        elif event is None and step in started:
            first_log.setdefault(step, entry.timestamp)
    return {
        step: {
            "startup_s": started[step] - starting[step],
            "to_first_log_s": first_log[step] - started[step] if step in first_log else float("nan"),
        }
        for step in started
        if step in starting
    }


def run_wall(instance: dg.DagsterInstance, run_id: str) -> float:
    stats = instance.get_run_stats(run_id)
    return (stats.end_time or time.time()) - (stats.start_time or time.time())


def launch_once(instance: dg.DagsterInstance, workspace_path: Path, tables: list[str] | None) -> tuple[str, float]:
    selection = None
    if tables:
        selection = [dg.AssetKey([layer, *t.split(".")]) for t in tables for layer in ("bronze", "quarantine", "silver")]
    began = time.perf_counter()
    with launch.children_output_to(Path(instance.root_directory) / "logs" / "bench.log"):
        context = launch.open_workspace(instance, path=workspace_path, log_level="CRITICAL")
    with context:
        workspace = context.create_request_context()
        run = launch.create_run(
            instance,
            workspace,
            "nightly_sync",
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={"ndc/bench": "startup"},
            asset_selection=selection,
        )
        instance.launch_run(run.run_id, workspace)
        result = launch.follow_run(instance, launch.LaunchedRun(run.run_id), lambda _: None)
    if not result.success:
        raise SystemExit(f"run {run.run_id} ended {result.status}: see `dagster dev` for its events")
    return run.run_id, time.perf_counter() - began


def report(name: str, instance: dg.DagsterInstance, run_id: str, wall: float | None) -> None:
    steps = step_figures(instance, run_id)
    startups = [s["startup_s"] for s in steps.values()]
    print(f"\n{name}: run {run_id}")
    for step, figures in sorted(steps.items()):
        print(f"  {step:55} start-up {figures['startup_s']:6.1f} s · STEP_START → first log {figures['to_first_log_s']:6.1f} s")
    if startups:
        print(
            f"  steps {len(startups)} · start-up median {statistics.median(startups):.1f} s, "
            f"max {max(startups):.1f} s · run {run_wall(instance, run_id):.0f} s"
            + (f" · launch to end {wall:.0f} s" if wall is not None else "")
        )


def _child_cost(_: int) -> tuple[float, float]:
    """In a step-like child: build the Definitions as a step does; its CPU and wall seconds."""
    import resource

    began = time.perf_counter()
    import orchestration.definitions  # noqa: F401

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - began


def process_startup(rounds: int) -> None:
    """What a step's process costs before its body runs, by start method (Dagster's mechanism:
    multiprocessing's spawn, or forkserver with the project's preload list). CPU seconds are
    the figure to compare on a shared machine; wall seconds follow the machine's load."""
    import multiprocessing

    from orchestration.definitions import STEP_PRELOAD

    for method in ("spawn", "forkserver"):
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload(STEP_PRELOAD)
        with context.Pool(1, maxtasksperchild=1) as pool:
            costs = pool.map(_child_cost, range(rounds), chunksize=1)
        cpu = statistics.median(c for c, _ in costs)
        wall = statistics.median(w for _, w in costs)
        print(f"{method:10} per step process: {cpu:.2f} CPU s, {wall:.2f} wall s (median of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", help="comma-separated source.table list (default: the whole job)")
    parser.add_argument("--run-id", help="only report this existing run's figures")
    parser.add_argument("--dagster-home", help="default: a temporary copy of dagster.yaml")
    parser.add_argument(
        "--processes", type=int, metavar="N", help="only measure N step-like processes per start method"
    )
    args = parser.parse_args()
    set_local_defaults()
    if args.processes:
        process_startup(args.processes)
        return
    home = Path(args.dagster_home or os.environ["DAGSTER_HOME"] if args.run_id else args.dagster_home or tempfile.mkdtemp())
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        if args.run_id:
            report("run", instance, args.run_id, None)
            return
        tables = args.tables.split(",") if args.tables else None
        spawn_workspace = home / "workspace-spawn.yaml"
        spawn_workspace.write_text(
            "load_from:\n  - python_file:\n"
            f"      relative_path: {Path(__file__).resolve()}\n"
            "      attribute: spawn_defs\n      location_name: ndc_spawn\n"
            f"      working_directory: {ROOT}\n"
        )
        for name, workspace in (("forkserver (project)", launch.workspace_file()), ("spawn (Dagster default)", spawn_workspace)):
            run_id, wall = launch_once(instance, workspace, tables)
            report(name, instance, run_id, wall)


if __name__ == "__main__":
    main()
