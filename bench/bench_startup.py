"""Step start-up of nightly_sync runs made like `ndc sync` makes them: forkserver (the project's
executor, heavy modules preloaded) against `spawn` (Dagster's default, which re-imports everything
in every step), on the same warehouse and the same (incremental, usually empty) night.

    uv run python bench/bench_startup.py --tables population.citizens,business.enterprises,welfare.payments
    uv run python bench/bench_startup.py --run-id <id>      # only read an existing run's events
    uv run python bench/bench_startup.py --processes 3      # a step's process alone, by start method
    uv run python bench/bench_startup.py --timeline --full-refresh --tables population.citizens
    uv run python bench/bench_startup.py --timeline --compare --full-refresh --tables population.citizens

`--timeline` runs one run (the project's executor only) and says where its time went, phase by
phase, from its start and the run's event timestamps: loading the code location (in this process,
as `ndc sync` does), creating the run, its execution starting here, planning, each step's process start, the load itself (its first log
line to its "stage seconds" line), the materialisations' metadata (Delta log reads, Data Docs),
the check evaluations, the step's and the run's end, and the execution returning. `--events`
also prints every event with its offset; `--compare` first runs the same run with every step
in a process of its own (the executor before a run of one step ran in the run worker).

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


@dg.definitions
def step_process_defs() -> dg.Definitions:
    """The project's Definitions with every step in a forked process, a run of one step too: the
    executor before one-step runs ran in the run worker (the `--compare` baseline)."""
    import orchestration.definitions as project

    project.executor = dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": project.STEP_PRELOAD}}}, name="multiprocess_forkserver"
    )
    return project.build_definitions()


def bench_workspace(home: Path, attribute: str, location: str) -> Path:
    """A workspace file loading one of this file's Definitions as its own code location."""
    path = home / f"workspace-{location}.yaml"
    path.write_text(
        "load_from:\n  - python_file:\n"
        f"      relative_path: {Path(__file__).resolve()}\n"
        f"      attribute: {attribute}\n      location_name: {location}\n"
        f"      working_directory: {ROOT}\n"
    )
    return path


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


def process_started() -> float:
    """When this process started (epoch seconds), from /proc: its start in clock ticks after boot."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def launch_once(
    instance: dg.DagsterInstance,
    workspace_path: Path,
    tables: list[str] | None,
    *,
    full_refresh: bool = False,
    marks: dict[str, float] | None = None,
) -> tuple[str, float]:
    """Launch nightly_sync as `ndc sync` does; `marks` gets the launch's own wall-clock stamps."""
    from orchestration.runs import load_run_config

    marks = {} if marks is None else marks
    selection = None
    if tables:
        selection = [dg.AssetKey([layer, *t.split(".")]) for t in tables for layer in ("bronze", "quarantine", "silver")]
    run_config = load_run_config(tables, full_refresh=True) if full_refresh else {}
    began = time.perf_counter()
    marks["launch"] = time.time()
    with launch.process_output_to(Path(instance.root_directory) / "logs" / "bench.log"):
        location = launch.load_code_location(instance, path=workspace_path)
        marks["location_loaded"] = time.time()
        run = launch.create_run(
            instance,
            location,
            "nightly_sync",
            run_config={**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={"ndc/bench": "startup"},
            asset_selection=selection,
        )
        marks["run_created"] = time.time()
        result = launch.execute_run(instance, run.run_id, lambda _: None)
        marks["followed"] = time.time()
    if not result.success:
        raise SystemExit(f"run {run.run_id} ended {result.status}: see `dagster dev` for its events")
    return run.run_id, time.perf_counter() - began


STAGE_LINE = ": stage seconds: "  # the load's last log line (pipeline/load.py)


def timeline(instance: dg.DagsterInstance, run_id: str, marks: dict[str, float], *, events: bool = False) -> float:
    """Where a launched run's time went: the launch's own marks, then the run's event timestamps."""
    records = [r.event_log_entry for r in instance.get_records_for_run(run_id, limit=100_000).records]
    first = {}  # (step or None, kind) → first timestamp
    last = {}
    for entry in records:
        event = entry.dagster_event
        kind = event.event_type_value if event is not None else ("LOAD_DONE" if STAGE_LINE in entry.user_message else "LOG")
        key = (entry.step_key, kind)
        first.setdefault(key, entry.timestamp)
        last[key] = entry.timestamp
    origin = marks.get("process", marks.get("launch", records[0].timestamp if records else 0.0))
    if events:
        for entry in records:
            event = entry.dagster_event
            kind = event.event_type_value if event is not None else "log"
            text = entry.user_message.splitlines()[0][:90] if entry.user_message else ""
            print(f"  {entry.timestamp - origin:7.2f}  {kind:28} {entry.step_key or '':32} {text}")
    run_start = first.get((None, "PIPELINE_START"))
    run_end = next((first[(None, k)] for k in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE") if (None, k) in first), None)
    phases: list[tuple[str, float | None, float | None]] = [
        ("start this process, import Dagster (as `ndc sync` does before it loads the code)", marks.get("process"), marks.get("launch")),
        ("load the code location (in this process: imports, definitions)", marks.get("launch"), marks.get("location_loaded")),
        ("create the run (execution plan)", marks.get("location_loaded"), marks.get("run_created")),
        ("run created → RUN_START (this process as its run worker)", marks.get("run_created"), run_start),
    ]
    steps = sorted(
        {step for step, kind in first if step is not None and kind == "STEP_START"},
        key=lambda step: first[(step, "STEP_START")],
    )
    if steps and (steps[0], "STEP_WORKER_STARTING") in first:
        phases.append(("RUN_START → first step's process launched", run_start, first[(steps[0], "STEP_WORKER_STARTING")]))
    load_s = 0.0
    for step in steps:
        starting, started = first.get((step, "STEP_WORKER_STARTING")), first.get((step, "STEP_START"))
        log_first = first.get((step, "LOG"))
        done = first.get((step, "LOAD_DONE"))
        materialised = last.get((step, "ASSET_MATERIALIZATION"))
        checked = last.get((step, "ASSET_CHECK_EVALUATION"))
        succeeded = first.get((step, "STEP_SUCCESS")) or first.get((step, "STEP_FAILURE"))
        if starting is not None:
            phases.append((f"{step}: process start (STEP_WORKER_STARTING → STEP_START)", starting, started))
        else:  # run in the run worker (a run of one step: orchestration/executors.py)
            phases.append((f"{step}: in the run worker, no process (RUN_START → STEP_START)", run_start, started))
        if done is not None:  # a load: its own work, then what Dagster and the asset do around it
            phases.append((f"{step}: STEP_START → first log line (resources, register, suite)", started, log_first))
            phases.append((f"{step}: the load (first log line → stage seconds)", log_first, done))
            load_s += done - log_first if log_first is not None else 0.0
            phases.append((f"{step}: materialisations' metadata (Delta log, Data Docs, preview)", done, materialised))
            phases.append((f"{step}: check evaluations", materialised, checked))
            phases.append((f"{step}: → STEP_SUCCESS", checked, succeeded))
        else:
            phases.append((f"{step}: body (STEP_START → STEP_SUCCESS)", started, succeeded))
    if steps:
        ends = [t for s in steps if (t := first.get((s, "STEP_SUCCESS")) or first.get((s, "STEP_FAILURE")))]
        phases.append(("last step's end → run's end", max(ends) if ends else None, run_end))
    phases.append(("run's end → its execution returns", run_end, marks.get("followed")))
    print(f"\ntimeline of run {run_id} ({len(records)} events; seconds from the launch)")
    for name, start, end in phases:
        if start is None or end is None:
            print(f"  {'':>7}  {'—':>6}  {name}")
            continue
        print(f"  {start - origin:7.2f}  {end - start:6.2f}  {name}")
    total = (marks.get("followed") or run_end or origin) - origin
    print(f"  launch to end {total:.1f} s · the load(s) {load_s:.1f} s · everything else {total - load_s:.1f} s")
    return total - load_s


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
    parser.add_argument("--full-refresh", action="store_true", help="the chosen loads read every row")
    parser.add_argument(
        "--timeline", action="store_true", help="one run (project executor): where its time went, phase by phase"
    )
    parser.add_argument("--events", action="store_true", help="with --timeline: every event, with its offset")
    parser.add_argument(
        "--compare", action="store_true",
        help="with --timeline: first the same run with every step in a process of its own (the executor before)",
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
        if args.timeline:
            workspaces = [("project executor", launch.workspace_file())]
            if args.compare:  # the baseline first, then the project's: one invocation, same night
                workspaces.insert(0, ("every step in a process (before)", bench_workspace(home, "step_process_defs", "ndc_steps")))
            totals = []
            for name, workspace in workspaces:
                # The first run pays this process's start and imports, as `ndc sync` does.
                marks: dict[str, float] = {} if totals else {"process": process_started()}
                run_id, wall = launch_once(instance, workspace, tables, full_refresh=args.full_refresh, marks=marks)
                print(f"\n== {name}")
                totals.append((name, timeline(instance, run_id, marks, events=args.events)))
            if len(totals) > 1:
                print("\n" + " · ".join(f"{name}: {total:.1f} s outside the load" for name, total in totals))
            return
        spawn_workspace = bench_workspace(home, "spawn_defs", "ndc_spawn")
        for name, workspace in (("forkserver (project)", launch.workspace_file()), ("spawn (Dagster default)", spawn_workspace)):
            run_id, wall = launch_once(instance, workspace, tables, full_refresh=args.full_refresh)
            report(name, instance, run_id, wall)


if __name__ == "__main__":
    main()
