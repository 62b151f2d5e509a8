"""Run a real run of a job in the Dagster instance, with `ndc` itself as its run worker.

`ndc sync` / `ndc demo` once called `execute_in_process`: those runs had no code-location origin
(so the job's Runs tab and the Overview timeline never showed them) and ran steps one after
another, so the per-source pools never applied. Here a run is created from the code location of
`workspace.yaml` (the one `dagster dev` loads: location `ndc`) and recorded with the very origin
`dagster dev` gives its own runs, so the UI lists, opens and re-executes it like one it launched.

The run is then executed in this process, as Dagster's run worker (`dagster api execute_run`)
would execute it: the job's own executor, its pools and retry policy, the engine events a run
worker writes. The code location is loaded here, in process, instead of by a code server that
starts a run worker which loads it again: each of those processes imported the whole stack and
built the Definitions, about 4 s apiece, most of a one-table refresh's bookkeeping (issue 9).
The run coordinator and its queue are bypassed on purpose: a queued run starts only when
`dagster-daemon` dequeues it, and the CLI must work without one. Run-level queue limits
(`concurrency.runs`) therefore do not apply to it; the pools do, since the executor claims their
slots.

Progress is read back from the run's event log by a thread beside the execution (step starts,
successes, failures, the loads' own log lines) and the finished run is summarised as a
`LaunchedRun`, which has the attributes of Dagster's `ExecuteInProcessResult` the reports read
(`run_id`, `success`, `all_events`). The same thread stops the execution on ctrl-C, or when the
UI's Terminate set the run CANCELING, as Dagster's own run-cancellation thread does (`Stop`).
"""

from __future__ import annotations

import io
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from warehouse.storage import project_root

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.events import DagsterEvent
    from dagster._core.events.log import EventLogEntry
    from dagster._core.remote_origin import CodeLocationOrigin
    from dagster._core.remote_representation.code_location import InProcessCodeLocation

POLL_S = 0.5  # how often the run's event log is read: progress lines appear within half a second
WORKER_PID_METADATA = "pid"  # EngineEventData.in_process: "Started process for run (pid: …)"
# How an interrupted execution records itself: ctrl-C, or a Terminate from the UI.
INTERRUPTIONS = frozenset({"DagsterExecutionInterruptedError", "KeyboardInterrupt"})


class LaunchError(RuntimeError):
    """The run could not be created (e.g. the code location failed to load)."""


@dataclass
class LaunchedRun:
    """A finished (or abandoned) run: what `job_runner.run_summary` and `run_failure_lines` read."""

    run_id: str
    status: str = "NOT_STARTED"
    all_events: list[DagsterEvent] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"

    @property
    def interrupted(self) -> bool:
        """Stopped by ctrl-C or the UI's Terminate, not by a failure of its own."""
        return self.status == "CANCELED" or any(map(is_interruption, self.all_events))


def is_interruption(event: DagsterEvent) -> bool:
    """Whether the event records an interrupt: Dagster's own (raised in its frames or the step's),
    or a load that stopped at one (assets/interrupts.py)."""
    from assets.interrupts import INTERRUPTED  # a stopped load's own word for it

    error = getattr(event.event_specific_data, "error", None)
    return error is not None and (error.cls_name in INTERRUPTIONS or INTERRUPTED in error.message)


@dataclass(frozen=True)
class CodeLocation:
    """workspace.yaml's code location, loaded in this process, and the origin `dagster dev` gives it."""

    loaded: InProcessCodeLocation
    origin: CodeLocationOrigin  # what runs record: the UI finds their location by it

    @property
    def name(self) -> str:
        return self.origin.location_name


def workspace_file() -> Path:
    """The workspace `dagster dev` reads; the location name there is what the UI groups runs by."""
    return project_root() / "workspace.yaml"


def load_code_location(instance: dg.DagsterInstance, *, path: Path | None = None) -> CodeLocation:
    """The single code location of workspace.yaml, its Definitions built in this process."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    workspace = path or workspace_file()
    origins = WorkspaceFileTarget(paths=[str(workspace)]).create_origins()
    if len(origins) != 1:
        raise LaunchError(f"{workspace} must declare exactly one code location, not {len(origins)}")
    [origin] = origins
    in_process = InProcessCodeLocationOrigin(
        loadable_target_origin=origin.loadable_target_origin, location_name=origin.location_name
    )
    try:
        return CodeLocation(in_process.create_location(instance), origin)
    except Exception as error:
        raise LaunchError(f"code location {origin.location_name!r} failed to load: {_innermost(error)}") from None


@contextmanager
def process_output_to(path: Path | None) -> Iterator[None]:
    """What Dagster's processes write (the steps' forkserver and processes, native libraries)
    goes to `path` instead of the terminal, while this process's own `sys.stdout`/`sys.stderr`
    (the progress `ndc` prints, `--json`) keep writing where they did: Dagster's log lines would
    drown that progress, and could break `--json` on stdout. None leaves both as they are
    (`--debug`)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    replaced: dict[str, TextIO] = {}
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if _writes_to(stream, fd):  # a terminal or a pipe; a test runner's capture is left alone
            replaced[name] = stream
            setattr(sys, name, open(saved[fd], "w", buffering=1, closefd=False, encoding=stream.encoding))  # noqa: SIM115
    try:
        with path.open("ab") as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
        yield
    finally:
        for name, stream in replaced.items():
            getattr(sys, name).close()
            setattr(sys, name, stream)
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def _writes_to(stream: Any, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False


def _innermost(error: Any) -> str:
    """The deepest cause's message: a user-code load error wraps the one that says what to fix."""
    while True:
        cause = getattr(error, "cause", None) or getattr(error, "__cause__", None)
        if cause is None:
            break
        error = cause
    return " ".join(str(getattr(error, "message", error)).split())


def create_run(
    instance: dg.DagsterInstance,
    location: CodeLocation,
    job_name: str,
    *,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
    asset_selection: Iterable[dg.AssetKey] | None = None,
) -> dg.DagsterRun:
    """A run of `job_name`, recorded with the remote origin the UI gives runs of this location."""
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

    [repository] = location.loaded.get_repositories().values()
    selector = JobSubsetSelector(
        location_name=location.name,
        repository_name=repository.name,
        job_name=job_name,
        op_selection=None,
        asset_selection=list(asset_selection) if asset_selection is not None else None,
    )
    remote_job = location.loaded.get_job(selector)
    plan = location.loaded.get_execution_plan(
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
        remote_job_origin=RemoteJobOrigin(RemoteRepositoryOrigin(location.origin, repository.name), job_name),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=frozenset(asset_selection) if asset_selection is not None else None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )


def execute_run(
    instance: dg.DagsterInstance, run_id: str, on_entry: Callable[[EventLogEntry], None]
) -> LaunchedRun:
    """Execute a created run here, as its run worker, with `on_entry` called for each of its events
    as they are written (from a thread beside the execution), and return how it ended."""
    from dagster._cli.api import _execute_run_command_body

    run = LaunchedRun(run_id)
    executed = threading.Event()
    failures: list[BaseException] = []
    with signals_seen() as signals:

        def follow() -> None:
            try:  # its own instance: the execution writes through the other one meanwhile
                with type(instance).from_ref(instance.get_ref()) as reader:
                    follow_run(
                        reader, run, on_entry, executed=executed, stop=Stop(reader, run_id, signals, interrupted)
                    )
            except BaseException as error:
                failures.append(error)

        interrupted = threading.Event()
        instance.add_event_listener(run_id, stop_recorded(instance, run_id, interrupted))
        follower = threading.Thread(target=follow, name="ndc-run-progress", daemon=True)
        follower.start()
        try:
            # Dagster's run worker body: its engine events, interrupts captured at safe points,
            # and every failure written to the run's event log before it returns.
            _execute_run_command_body(
                run_id, instance, write_stream_fn=lambda _event: None, set_exit_code_on_failure=False
            )
        finally:
            executed.set()
            follower.join()
    if failures:
        raise failures[0]
    return run


@contextmanager
def signals_seen() -> Iterator[int | None]:
    """A file descriptor that receives a byte for every signal this process gets (Python's wakeup
    fd), whoever handles the signal; None off the main thread, where it cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    read, write = os.pipe()
    for fd in (read, write):
        os.set_blocking(fd, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    try:
        yield read
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)


class Stop:
    """Stops the execution in this process on ctrl-C, or when the UI's Terminate set the run CANCELING.

    Dagster stops a run worker by SIGINT: its handler raises inside the step's code, or flags the
    executor, which then ends the steps' processes. A handler that raises can land in a garbage
    collector callback, where Python prints the exception and drops it, and the load goes on. So
    the interrupt is sent again every RESEND_S until the execution has returned. On ctrl-C the run
    is set CANCELING at once, so that it ends CANCELED rather than failed: for a run of several
    steps (their processes stop on the executor's word) this is what does it; a step running here
    records it as its interrupted failure is written (`stop_recorded`), which no thread can outrun.
    """

    RESEND_S = 2.0

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        signals: int | None,
        interrupted: threading.Event | None = None,
    ) -> None:
        self._instance = instance
        self._run_id = run_id
        self._signals = signals
        # Set by `stop_recorded` when a step's interrupt was written: the execution is unwinding
        # from it already, and a second interrupt now would land in its clean-up.
        self._interrupted = interrupted or threading.Event()
        self._requested = False
        self._last_sent = 0.0

    def ctrl_c(self) -> bool:
        """Whether a SIGINT arrived since the last look (the terminal's ctrl-C, or a `kill -INT`)."""
        if self._signals is None:
            return False
        try:
            arrived = os.read(self._signals, 512)
        except BlockingIOError:
            return False
        return signal.SIGINT.value in arrived

    def poll(self, run: dg.DagsterRun) -> None:
        """Once a stop is asked for, interrupt the execution until it returns."""
        if not self._requested:
            if run.status.value not in ("CANCELING", "CANCELED"):
                return
            self._requested = True
            if self._interrupted.is_set():
                self._last_sent = time.monotonic()  # interrupted already: again only if it lingers
        if time.monotonic() - self._last_sent >= self.RESEND_S:
            self._last_sent = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)

    def wait(self, executed: threading.Event) -> None:
        """Sleep until the next look (POLL_S), waking at once on a ctrl-C: the run is set CANCELING
        straight away, before the interrupted step's failure ends the run as failed instead."""
        if self._signals is None:
            executed.wait(POLL_S)
            return
        select.select([self._signals], [], [], POLL_S)
        if self.ctrl_c() and not self._requested:
            self._requested = True
            self._last_sent = time.monotonic()  # the terminal's own SIGINT was the first
            run = self._instance.get_run_by_id(self._run_id)
            if run is not None and run.status.value == "STARTED":
                self._instance.report_run_canceling(run, "stopped by ctrl-C in `ndc`")


def stop_recorded(
    instance: dg.DagsterInstance, run_id: str, interrupted: threading.Event
) -> Callable[[EventLogEntry], None]:
    """An event listener that marks the run CANCELING when a step of it fails by an interrupt, on
    the thread that executes the run, as the failure is written.

    In this process an interrupt is a stop asked for (ctrl-C, a `kill -INT`, or the UI's Terminate,
    which marked the run already). Dagster ends an interrupted run CANCELED only if it reads it
    CANCELING, and it reads it on this thread right after the failure. `Stop`'s thread marks it too
    on ctrl-C, but raced that read and lost it now and then: a ctrl-C that landed in Dagster's own
    frames, between two outputs of a step, ended the run FAILURE (paging the on-call). `interrupted`
    tells `Stop` that the execution is unwinding from the interrupt already: no second one."""

    def on_event(entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None or not event.is_step_failure or not is_interruption(event):
            return
        interrupted.set()
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status.value == "STARTED":
            instance.report_run_canceling(run, "stopped by ctrl-C in `ndc`")

    return on_event


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
    executed: threading.Event,
    stop: Stop,
) -> LaunchedRun:
    """Read the run's events as they come until it ends and its execution here has returned;
    meanwhile a ctrl-C or the UI's Terminate interrupts that execution (`stop`)."""
    cursor = None
    while True:
        returned = executed.is_set()  # read before the run: never a stale "not ended"
        finished = instance.get_run_by_id(run.run_id)
        while True:  # every event written so far, also after the run ended
            batch = instance.get_records_for_run(run.run_id, cursor=cursor, limit=1000)
            for record in batch.records:
                entry = record.event_log_entry
                if entry.dagster_event is not None:
                    run.all_events.append(entry.dagster_event)
                on_entry(entry)
            cursor = batch.cursor
            if not batch.has_more:
                break
        if finished is None:
            raise LaunchError(f"run {run.run_id} vanished from the instance")
        # A run the UI marked CANCELED at once (a forced Terminate) may still be executing here.
        still_running = not returned and finished.status.value == "CANCELED"
        if finished.is_finished and not still_running:
            run.status = finished.status.value
            return run
        if returned:
            # The execution returned and the run reads as not ended. Being stopped (CANCELING), it
            # ended canceled, as Dagster ends a canceling run: its status was written by two
            # threads (the ctrl-C here, the stopped load in the step), and one CANCELING can land
            # after the execution's own CANCELED. Otherwise the execution crashed before its first
            # event: say so in the run, rather than leave it STARTED.
            if finished.status.value == "CANCELING":
                instance.report_run_canceled(finished, "stopped by ctrl-C in `ndc`")
            else:
                instance.report_run_failed(finished, "the run's execution in `ndc` ended without a result")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            continue  # one more pass reads the final event
        stop.poll(finished)
        stop.wait(executed)


def cancel(instance: dg.DagsterInstance, run_id: str, reason: str) -> str:
    """Mark a run that did not end CANCELED, freeing its pool slots; return its status."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, reason)
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        run = instance.get_run_by_id(run_id)
    return run.status.value if run else "unknown"
