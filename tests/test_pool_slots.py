"""Pool slots of runs whose process died are freed before the next run; live holders are named.

A real Dagster instance (SQLite storage in a temporary DAGSTER_HOME, the project's dagster.yaml),
real processes: the "killed run" is tagged with the pid of a process this test SIGKILLs.
"""

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRunStatus

from orchestration.reclaim import blocking_runs, process_tags, reclaim_pool_slots

POOL = "source_population"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def instance(tmp_path):
    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 2)
        yield instance


def _dead_pid() -> int:
    process = subprocess.Popen(["sleep", "60"])
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.pid


def _started_run(instance, pid: int) -> str:
    run_id = str(uuid.uuid4())
    tags = {**process_tags(), "ndc/pid": str(pid)}
    instance.add_run(dg.DagsterRun(job_name="nightly_sync", run_id=run_id, status=DagsterRunStatus.STARTED, tags=tags))
    return run_id


def _claim(instance, run_id: str, step: str) -> bool:
    return instance.event_log_storage.claim_concurrency_slot(POOL, run_id, step).is_claimed


def test_slots_of_killed_runs_are_freed_and_the_next_run_claims_one(instance):
    killed = [_started_run(instance, _dead_pid()) for _ in range(2)]
    for number, run_id in enumerate(killed):
        assert _claim(instance, run_id, f"load_population__citizens_{number}")
    waiting = _started_run(instance, os.getpid())
    assert not _claim(instance, waiting, "load_population__households")  # the hang the issue saw

    reclaimed = reclaim_pool_slots(instance)

    assert sorted(r.run_id for r in reclaimed) == sorted(killed)
    assert all(r.pools == (POOL,) and r.reason == "process gone" for r in reclaimed)
    assert all(instance.get_run_by_id(r).status == DagsterRunStatus.FAILURE for r in killed)
    assert _claim(instance, waiting, "load_population__households")


def test_a_live_holder_is_kept_and_named(instance):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        live = _started_run(instance, sleeper.pid)
        assert _claim(instance, live, "load_population__citizens")

        assert reclaim_pool_slots(instance) == []

        assert instance.get_run_by_id(live).status == DagsterRunStatus.STARTED
        [holder] = blocking_runs(instance, [POOL])
        assert (holder.run_id, holder.pool, holder.status) == (live, POOL, "STARTED")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_slot_left_by_an_ended_run_is_freed(instance):
    ended = _started_run(instance, os.getpid())
    assert _claim(instance, ended, "load_population__citizens")
    instance.report_run_failed(instance.get_run_by_id(ended), "failed elsewhere")

    [reclaimed] = reclaim_pool_slots(instance)

    assert (reclaimed.run_id, reclaimed.reason) == (ended, "run ended")
    assert instance.event_log_storage.get_concurrency_info(POOL).active_slot_count == 0
