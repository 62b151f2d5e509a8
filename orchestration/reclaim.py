"""Pool slots held by runs that can no longer free them.

Each ministry database is a concurrency pool (`source_<name>`): a step claims a slot before it
reads the source and frees it when it ends. A run killed mid-step (SIGKILL, OOM, a lost machine)
never frees its slot, and after `limit` such crashes every later run of that source waits for ever
("Step still blocked by limit for pool …"). Two mechanisms free them:

- runs launched by the daemon: Dagster's own run monitoring (`run_monitoring.enabled` and
  `free_slots_after_run_end_seconds` in dagster.yaml) marks dead run workers failed and frees
  their slots;
- runs started by `ndc sync` / `ndc demo` (run without a daemon, orchestration/launch.py): the
  CLI is their run worker, and each is tagged with the host and pid that runs it. Before the
  next run starts, `reclaim_pool_slots` marks a run whose worker is gone as failed and frees its
  slots (the worker's pid is also read from its "Started process for run (pid: …)" event, which
  is how runs of older versions, whose worker was another process, are recognised). A slot
  held by a run that has already ended is freed too, whoever started it.

A slot held by a live run elsewhere is a real wait, not a leak: `blocking_runs` names it so that
the CLI can say which run holds which pool instead of hanging silently.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus

from devservers.process import pid_alive  # zombies count as gone

PID_TAG = "ndc/pid"  # which process runs a run that `ndc` started: `ndc` itself
HOST_TAG = "ndc/host"

_ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def process_tags() -> dict[str, str]:
    """Tags that let a later run tell whether this one's process is still alive."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


@dataclass(frozen=True)
class ReclaimedRun:
    run_id: str
    pools: tuple[str, ...]
    reason: str  # "process gone" | "run ended"


@dataclass(frozen=True)
class BlockingRun:
    run_id: str
    pool: str
    status: str


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run worker reported in its first engine event, if it got that far."""
    from dagster._core.events import DagsterEventType

    from orchestration.launch import worker_pid

    events = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=20)
    return next((pid for r in events.records if (pid := worker_pid(r.event_log_entry)) is not None), None)


def _process_gone(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """True only for a run started on this host whose worker (or launcher) no longer exists."""
    tags = run.tags
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    pid = _worker_pid(instance, run.run_id) or int(tags[PID_TAG])
    return pid != os.getpid() and not pid_alive(pid)


def _holders(instance: dg.DagsterInstance, pools: Iterable[str]) -> dict[str, set[str]]:
    """run id → the pools in which it holds or awaits a slot."""
    holders: dict[str, set[str]] = {}
    for pool in pools:
        info = instance.event_log_storage.get_concurrency_info(pool)
        for run_id in info.active_run_ids | {step.run_id for step in info.pending_steps}:
            holders.setdefault(run_id, set()).add(pool)
    return holders


def reclaim_pool_slots(instance: dg.DagsterInstance) -> list[ReclaimedRun]:
    """Free the slots of runs that cannot free them: ended runs, and local runs whose process died."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    reclaimed: list[ReclaimedRun] = []
    for run_id, pools in sorted(_holders(instance, storage.get_concurrency_keys()).items()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in _ENDED:
            reason = "run ended"
        elif _process_gone(instance, run):
            reason = "process gone"
            instance.report_run_failed(
                run, f"the process that ran this run (pid {run.tags[PID_TAG]}) is gone: killed or crashed"
            )
        else:
            continue
        storage.free_concurrency_slots_for_run(run_id)
        reclaimed.append(ReclaimedRun(run_id, tuple(sorted(pools)), reason))
    return reclaimed


def blocking_runs(instance: dg.DagsterInstance, pools: Iterable[str], *, except_run: str | None = None) -> list[BlockingRun]:
    """Live runs holding slots of `pools` (other than `except_run`): what a waiting step waits for."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    blocking = []
    for pool in pools:
        for run_id in sorted(storage.get_concurrency_info(pool).active_run_ids - {except_run}):
            run = instance.get_run_by_id(run_id)
            status = run.status.value if run else "unknown"
            blocking.append(BlockingRun(run_id, pool, status))
    return blocking
