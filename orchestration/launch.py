"""Launch a real run of a job in the Dagster instance, the way the UI does, and follow it.

`ndc sync` / `ndc demo` used to call `execute_in_process`: those runs had no code-location origin
(so the job's Runs tab and the Overview timeline never showed them) and ran steps one after
another, so the per-source pools never applied. Here a run is created from the code location of
`workspace.yaml` (the one `dagster dev` loads: location `ndc`), with its remote job origin, and
handed straight to the instance's run launcher (`DefaultRunLauncher`: the location's code server
starts the run worker, which runs the job's own executor). The run coordinator and its queue are
bypassed on purpose: a queued run starts only when `dagster-daemon` dequeues it, and the CLI must
work without one. Run-level queue limits (`concurrency.runs`) therefore do not apply to it; the
pools do, since the run worker's executor claims their slots.

Progress is read back from the run's event log (step starts, successes, failures, the loads' own
log lines) and the finished run is summarised as a `LaunchedRun`, which has the attributes of
Dagster's `ExecuteInProcessResult` the reports read (`run_id`, `success`, `all_events`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warehouse.storage import project_root

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.events import DagsterEvent
    from dagster._core.events.log import EventLogEntry
    from dagster._core.workspace.context import WorkspaceProcessContext

POLL_S = 0.5  # how often the run's event log is read: progress lines appear within half a second
WORKER_PID_METADATA = "pid"  # EngineEventData.in_process: "Started process for run (pid: …)"


class LaunchError(RuntimeError):
    """The run could not be created or launched (e.g. the code location failed to load)."""


@dataclass
class LaunchedRun:
    """A finished (or abandoned) launched run: what `job_runner.run_summary` and `run_failure_lines` read."""

    run_id: str
    status: str = "NOT_STARTED"
    all_events: list[DagsterEvent] = field(default_factory=list)
    worker_pid: int | None = None

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"


def workspace_file() -> Path:
    """The workspace `dagster dev` reads; the location name there is what the UI groups runs by."""
    return project_root() / "workspace.yaml"


def open_workspace(
    instance: dg.DagsterInstance, *, path: Path | None = None, log_level: str = "WARNING"
) -> WorkspaceProcessContext:
    """The code locations of workspace.yaml, each served by its own code server (a subprocess)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    target = WorkspaceFileTarget(paths=[str(path or workspace_file())])
    return WorkspaceProcessContext(instance, target, code_server_log_level=log_level)


@contextmanager
def children_output_to(path: Path | None) -> Iterator[None]:
    """Processes started inside (the code server, and through it the run worker and its steps)
    write their stdout and stderr to `path` instead of the terminal: Dagster's own log lines would
    drown the progress `ndc` prints from the run's events, and could break `--json` on stdout.
    None leaves both as they are (`--debug`)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with path.open("ab") as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def _innermost(error: Any) -> str:
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return " ".join(str(error.message).split())


def create_run(
    instance: dg.DagsterInstance,
    workspace: Any,
    job_name: str,
    *,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
    asset_selection: Iterable[dg.AssetKey] | None = None,
) -> dg.DagsterRun:
    """A run of `job_name` from the workspace's (single) code location, with its remote origin."""
    from dagster._core.definitions.selector import JobSubsetSelector

    names = workspace.code_location_names
    if len(names) != 1:
        raise LaunchError(f"{workspace_file()} must declare exactly one code location, not {len(names)}")
    [location_name] = names
    if (error := workspace.get_code_location_error(location_name)) is not None:
        raise LaunchError(f"code location {location_name!r} failed to load: {_innermost(error)}")
    location = workspace.get_code_location(location_name)
    [repository] = location.get_repositories().values()
    selector = JobSubsetSelector(
        location_name=location_name,
        repository_name=repository.name,
        job_name=job_name,
        op_selection=None,
        asset_selection=list(asset_selection) if asset_selection is not None else None,
    )
    remote_job = location.get_job(selector)
    plan = location.get_execution_plan(
        remote_job, dict(run_config), step_keys_to_execute=None, known_state=None, instance=instance
    )
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=dict(run_config),
        resolved_op_selection=remote_job.resolved_op_selection,
        step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=frozenset(asset_selection) if asset_selection is not None else None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )


def worker_pid(entry: EventLogEntry) -> int | None:
    """The run worker's pid, from the engine event its process writes first."""
    event = entry.dagster_event
    if event is None or event.event_type_value != "ENGINE_EVENT":
        return None
    metadata = getattr(event.event_specific_data, "metadata", None) or {}
    value = metadata.get(WORKER_PID_METADATA)
    text = getattr(value, "value", value)
    return int(text) if isinstance(text, str) and text.isdigit() else None


def follow_run(
    instance: dg.DagsterInstance,
    run: LaunchedRun,
    on_entry: Callable[[EventLogEntry], None],
    *,
    on_worker: Callable[[int], None] = lambda _: None,
    worker_gone: Callable[[int], bool] | None = None,
) -> LaunchedRun:
    """Read the run's events as they come until it ends; a worker that died ends it as failed."""
    cursor = None
    while True:
        finished = instance.get_run_by_id(run.run_id)
        while True:  # every event written so far, also after the run ended
            batch = instance.get_records_for_run(run.run_id, cursor=cursor, limit=1000)
            for record in batch.records:
                entry = record.event_log_entry
                if entry.dagster_event is not None:
                    run.all_events.append(entry.dagster_event)
                if run.worker_pid is None and (pid := worker_pid(entry)) is not None:
                    run.worker_pid = pid
                    on_worker(pid)
                on_entry(entry)
            cursor = batch.cursor
            if not batch.has_more:
                break
        if finished is None:
            raise LaunchError(f"run {run.run_id} vanished from the instance")
        if finished.is_finished:
            run.status = finished.status.value
            return run
        if run.worker_pid is not None and worker_gone is not None and worker_gone(run.worker_pid):
            latest = instance.get_run_by_id(run.run_id)  # it may have ended just before its worker
            if latest is not None and not latest.is_finished:
                instance.report_run_failed(
                    latest, f"the run worker (pid {run.worker_pid}) is gone: killed or crashed"
                )
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            continue  # one more pass reads the failure event
        time.sleep(POLL_S)


def terminate(instance: dg.DagsterInstance, run_id: str, *, wait_s: float = 30) -> str:
    """Ask the run launcher to stop the run (the UI's Terminate); mark it canceled if it cannot."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return run.status.value if run else "unknown"
    try:
        asked = instance.run_launcher.terminate(run_id)
    except Exception:  # the code server may already be gone (it shares the terminal's ctrl-C)
        asked = False
    deadline = time.monotonic() + wait_s
    while asked and time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            break
        time.sleep(POLL_S)
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, "stopped by ctrl-C in `ndc`")
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        run = instance.get_run_by_id(run_id)
    return run.status.value if run else "unknown"
