"""A stop asked for in the instance stops the load at its next progress line (assets/interrupts.py),
whether or not the SIGINT that goes with it got through."""

from __future__ import annotations

import logging
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
