"""A stop asked for in the instance stops the load at its next progress line (assets/interrupts.py),
whether or not the SIGINT that goes with it got through."""

from __future__ import annotations

import logging
import subprocess
import sys
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
