"""A load stopped on request (ctrl-C, the UI's Terminate) ends its step without a retry.

Dagster retries an interrupted step under the step's retry policy; ours is there for a flaky
source, not for someone who said stop. In a run that `ndc sync` / `ndc demo` executes in its own
process (orchestration/launch.py), an interrupt is its user's ctrl-C: it is recorded as a cancel,
as the UI's Terminate is, and not as a failure that would page the on-call through the failure
alert. Elsewhere (a run pod evicted on Kubernetes) it stays a failure, which run retries redo.
"""

from __future__ import annotations

import os

import dagster as dg

INTERRUPTED = "stopped on request (ctrl-C or the UI's Terminate) before the load finished"
# Which process runs a run that `ndc` started: `ndc` itself (orchestration/reclaim.py reads it too).
WORKER_PID_TAG = "ndc/pid"


def stopped(context: dg.AssetExecutionContext) -> dg.Failure:
    """The step's failure for a load that was interrupted, the run marked CANCELING first when the
    interrupt is the ctrl-C of the `ndc` process running it (so that the run ends CANCELED)."""
    if context.run.tags.get(WORKER_PID_TAG) == str(os.getpid()):
        run = context.instance.get_run_by_id(context.run.run_id)
        if run is not None and run.status == dg.DagsterRunStatus.STARTED:
            context.instance.report_run_canceling(run, "stopped by ctrl-C in `ndc`")
    return dg.Failure(description=INTERRUPTED, allow_retries=False)
