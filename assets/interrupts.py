"""A load stopped on request (ctrl-C, the UI's Terminate) ends its step without a retry.

Dagster retries an interrupted step under the step's retry policy; ours is there for a flaky
source, not for someone who said stop. In a run that `ndc sync` / `ndc demo` executes in its own
process (orchestration/launch.py), an interrupt is its user's ctrl-C: it is recorded as a cancel,
as the UI's Terminate is, and not as a failure that would page the on-call through the failure
alert. Elsewhere (a run pod evicted on Kubernetes) it stays a failure, which run retries redo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

INTERRUPTED = "stopped on request (ctrl-C or the UI's Terminate) before the load finished"


def stop_requested(context: dg.AssetExecutionContext) -> bool:
    """Whether the run is being stopped: `ndc` marks it CANCELING on ctrl-C, the UI on Terminate."""
    run = context.instance.get_run_by_id(context.run.run_id)
    return run is not None and run.status in (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)


def progress_or_stop(context: dg.AssetExecutionContext) -> Callable[[str], None]:
    """The load's progress lines for the run's log, each first raising the interrupt when the run
    is being stopped. The stop's SIGINT alone is not enough: its handler can run inside a garbage
    collector callback, where Python prints the exception and drops it, and a short load then
    finished as if nobody had asked. A stage boundary is a safe place to stop (the next run repairs
    a load cut anywhere), and one run-status read per line costs a few milliseconds
    (3.5 ms on the SQLite run storage) against a dozen lines a load."""

    def progress(message: str) -> None:
        if stop_requested(context):
            raise dg.DagsterExecutionInterruptedError()
        context.log.info(message)

    return progress


def stopped(context: dg.AssetExecutionContext) -> dg.Failure:
    """The step's failure for a load that was interrupted. In a run that `ndc` executes, the failure
    marks the run CANCELING as it is written (orchestration/launch.py: stop_recorded), so that the
    run ends CANCELED."""
    return dg.Failure(description=INTERRUPTED, allow_retries=False)


@contextmanager
def stops_are_not_retried(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Around a whole load step, its outputs included: an interrupt becomes `stopped`.

    Dagster turns an interrupt that leaves a step's code into a retry under the step's retry policy.
    An interrupt lands wherever the step is when it comes: in the load, or after it, while the step
    yields its materializations and checks (under load a 300-row load can finish between the
    progress line a ctrl-C answered and the signal). And code that gets the signal in a native
    library, or a source cut off by it, may surface it as an error of its own. So any exception
    raised once the run is being stopped is the stop (the error itself kept as its cause)."""
    try:
        yield
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt):
        raise stopped(context) from None
    except dg.Failure as failure:
        if failure.description != INTERRUPTED and _stopping(context):
            raise stopped(context) from failure
        raise
    except Exception as error:
        if _stopping(context):
            raise stopped(context) from error
        raise


def _stopping(context: dg.AssetExecutionContext) -> bool:
    """`stop_requested`, read while handling another error: the stop's SIGINT is re-sent every
    2 s (orchestration/launch.py: Stop) and may land in this read, which is then the stop itself;
    a run storage that cannot be read leaves the error being handled as it was."""
    try:
        return stop_requested(context)
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt):
        return True
    except Exception:
        return False
