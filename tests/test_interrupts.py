"""A stop asked for in the instance stops the load at its next progress line (assets/interrupts.py),
whether or not the SIGINT that goes with it got through."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from assets.interrupts import progress_or_stop


def test_the_next_progress_line_raises_the_interrupt_once_the_run_is_canceling(caplog):
    with dg.DagsterInstance.ephemeral() as instance:
        run = instance.add_run(DagsterRun(job_name="nightly_sync", status=dg.DagsterRunStatus.STARTED))
        # What the load's callback reads: the run's instance, the run, and its log.
        context = SimpleNamespace(instance=instance, run=run, log=logging.getLogger("ndc.test"))
        progress = progress_or_stop(context)
        with caplog.at_level(logging.INFO, logger="ndc.test"):
            progress("population.citizens: 300 rows extracted")
        assert "300 rows extracted" in caplog.text
        instance.report_run_canceling(run, "Terminate in the UI")
        with pytest.raises(dg.DagsterExecutionInterruptedError):
            progress("population.citizens: merging 286 rows into silver")
        assert "merging" not in caplog.text


@pytest.mark.parametrize(("status", "ended"), [
    # A CANCELING written late by the ctrl-C thread, over the execution's own CANCELED.
    (dg.DagsterRunStatus.CANCELING, "CANCELED"),
    # An execution that returned before writing any end (a crash): a failure, not left STARTED.
    (dg.DagsterRunStatus.STARTED, "FAILURE"),
])
def test_a_run_whose_execution_returned_unended_is_ended_by_what_it_was_doing(status, ended):
    import threading

    from orchestration.launch import LaunchedRun, Stop, follow_run

    with dg.DagsterInstance.ephemeral() as instance:
        run = instance.add_run(DagsterRun(job_name="nightly_sync", status=status))
        executed = threading.Event()
        executed.set()
        followed = follow_run(
            instance, LaunchedRun(run.run_id), lambda _entry: None, executed=executed,
            stop=Stop(instance, run.run_id, None),
        )
        assert followed.status == ended == instance.get_run_by_id(run.run_id).status.value


@dg.asset
def cut_short() -> None:
    # What Dagster sees when ctrl-C lands in its own frames, between two of a step's outputs: an
    # interrupt that no code of the asset caught.
    raise KeyboardInterrupt


def interrupted_job() -> dg.JobDefinition:
    # In the run worker's own process, as `ndc` runs a one-step run (orchestration/executors.py).
    job = dg.define_asset_job("interrupted", executor_def=dg.in_process_executor)
    return dg.Definitions(assets=[cut_short], jobs=[job]).resolve_job_def("interrupted")


def test_an_interrupt_outside_the_load_ends_a_run_of_ndc_canceled_not_failed(tmp_path):
    """The step's interrupted failure marks the run CANCELING on the thread that executes it, before
    Dagster reads the run to end it: not left to a race with the thread that watches for ctrl-C."""
    from orchestration.launch import execute_run

    job = dg.reconstructable(interrupted_job)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run = instance.create_run_for_job(
            job_def=job.get_definition(), job_code_origin=job.get_python_origin(), run_config={}
        )
        ended = execute_run(instance, run.run_id, lambda _entry: None)
        assert ended.interrupted
        assert ended.status == "CANCELED" == instance.get_run_by_id(run.run_id).status.value


def test_a_stop_the_interrupted_step_recorded_sends_no_second_interrupt():
    """A second SIGINT would land in the clean-up of an execution already unwinding from the first;
    a Terminate from the UI (nothing interrupted yet) still gets one."""
    import signal
    import threading
    import time

    from orchestration.launch import Stop

    with dg.DagsterInstance.ephemeral() as instance:
        run = instance.add_run(DagsterRun(job_name="nightly_sync", status=dg.DagsterRunStatus.CANCELING))
        received: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda number, _frame: received.append(number))
        try:
            interrupted = threading.Event()
            interrupted.set()
            Stop(instance, run.run_id, None, interrupted).poll(run)
            time.sleep(0.05)  # a signal's handler runs on this thread, at its next instruction
            assert received == []
            Stop(instance, run.run_id, None).poll(run)
            time.sleep(0.05)
            assert received == [signal.SIGINT]
        finally:
            signal.signal(signal.SIGINT, previous)


def test_the_processes_tests_start_can_be_stopped_with_ctrl_c():
    """The ctrl-C tests send SIGINT to `ndc` processes: a test run that inherited SIGINT ignored (a
    script's background job) would pass that on to them, unless conftest.py restores it."""
    child = subprocess.run(
        [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"],
        capture_output=True, text=True, check=True,
    )
    assert child.stdout.strip() == "True"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory) -> Path:
    from demo.generator import generate

    root = tmp_path_factory.mktemp("interrupts") / "demo"
    generate(root, citizens=120, seed=3)
    return root


def citizens_loaded(instance: dg.DagsterInstance, small_demo: Path, tmp_path: Path, monkeypatch):
    """The real nightly_sync's load of population.citizens, in this process, on `instance`."""
    from orchestration.definitions import defs

    monkeypatch.setenv("NDC_DEMO_DIR", str(small_demo))
    monkeypatch.setenv("NDC_WAREHOUSE_URI", str(tmp_path / "warehouse"))
    return defs.resolve_job_def("nightly_sync").execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey([layer, "population", "citizens"]) for layer in ("bronze", "quarantine", "silver")],
        raise_on_error=False,
    )


def after_the_load(instance: dg.DagsterInstance, fault: str):
    """A stand-in for the step's materializations, hit once the load itself has finished."""

    def materializations(*_args, **_kwargs):
        if fault == "ctrl-C":
            raise KeyboardInterrupt
        # A stop asked for, seen by native code as an error of its own (e.g. a Rust library's), or
        # by a source whose server the ctrl-C stopped too (a failure of its own, not retried).
        [run] = instance.get_runs(limit=1)
        instance.report_run_canceling(run, "Terminate in the UI")
        if fault == "source cut off while stopping":
            raise dg.Failure(description="source 'population': the server closed the connection", allow_retries=False)
        raise RuntimeError("interrupted system call")

    return materializations


@pytest.mark.parametrize("fault", ["ctrl-C", "error while stopping", "source cut off while stopping"])
def test_a_stop_that_lands_after_the_load_is_not_retried(fault, small_demo, tmp_path, monkeypatch):
    """Under load a small table can finish between the progress line a ctrl-C answered and the
    signal: the interrupt then lands in the step's outputs, and Dagster retried it (fault suite)."""
    import assets.ministries
    from assets.interrupts import INTERRUPTED

    with dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setattr(assets.ministries, "_materializations", after_the_load(instance, fault))
        result = citizens_loaded(instance, small_demo, tmp_path, monkeypatch)
    kinds = [event.event_type_value for event in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in kinds and "STEP_RESTARTED" not in kinds
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert INTERRUPTED in failure.event_specific_data.error.message


def test_an_error_of_a_run_nobody_stopped_is_still_retried(small_demo, tmp_path, monkeypatch):
    """The stop rule does not swallow real failures: a load that breaks on its own keeps the retry
    policy (its backoff set to nothing here)."""
    import assets.ministries

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug after the load")

    monkeypatch.setattr(assets.ministries, "_materializations", broken)
    monkeypatch.setattr(dg.RetryPolicy, "calculate_delay", lambda _policy, _attempt: 0)
    with dg.DagsterInstance.ephemeral() as instance:
        result = citizens_loaded(instance, small_demo, tmp_path, monkeypatch)
    kinds = [event.event_type_value for event in result.all_events]
    assert kinds.count("STEP_UP_FOR_RETRY") == 2 and "a bug after the load" in str(result.all_events)
