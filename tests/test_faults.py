"""The fault suite: real `ndc sync` runs hit by real faults, then run again and proved against the source.

Each scenario injects one fault (bench/chaos.py has the machinery and runs them in a loop), runs the
same sync again normally, and proves the warehouse against a clean reference warehouse built from
the same source snapshot: 0 rows lost, 0 duplicated, no unexpected key, every Delta table readable,
and no load record ahead of the rows its run committed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from bench import chaos
from bench.chaos import Freed, Lab, Outcome

pytestmark = pytest.mark.slow

CITIZENS = 300
TABLE = "population.citizens"
MOMENTS_EXTRACT = chaos.MOMENTS["bronze write"]  # the progress line of a load reading its source


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pl.DataFrame]]:
    """A small demo and what a clean run lands from it."""
    from demo.generator import generate

    root = tmp_path_factory.mktemp("faults")
    generate(root / "demo", citizens=CITIZENS, seed=11)
    return root / "demo", chaos.reference_keys(root, root / "demo", (TABLE,))


def lab(tmp_path: Path, demo: Path, **extra: str) -> Lab:
    return Lab(tmp_path, demo, str(tmp_path / "warehouse"), dict(extra))


def assert_exact(outcome: Outcome) -> None:
    assert outcome.next_run == "ok", outcome.line()
    assert (outcome.lost, outcome.duplicated, outcome.unexpected) == (0, 0, 0), outcome.line()
    assert (outcome.unreadable, outcome.records_ahead) == (0, 0), outcome.line()


@pytest.mark.parametrize("moment", list(chaos.MOMENTS))
def test_a_run_killed_at_each_moment_of_a_load_is_repaired_by_the_next_run(moment, source, tmp_path):
    demo, reference = source
    here = lab(tmp_path, demo)
    # A first load is struck, then (the usual night) a load of a table already in the warehouse.
    for _ in ("first load", "table already loaded"):
        faulted, at = chaos.kill_at(here, TABLE, moment, delay=0.0)
        assert at.startswith(moment), f"the kill missed its moment: {at}"
        assert_exact(chaos.recover_and_prove("SIGKILL", here, TABLE, faulted, at, reference[TABLE], Freed()))


def stopped_while_reading(
    here: Lab, postgres: chaos.Postgres, stop: Callable[[subprocess.Popen[str]], None]
) -> tuple[int, str]:
    """`ndc sync` stopped by `stop` while its load waits for its source's rows (held by a lock:
    chaos.read_held); its exit code and stderr. Seeing the "extracting" line first was not enough: a
    300-row load can end before its first progress line reaches a watcher, and then nothing is left
    to stop (the CI failure of 2026-12-02, on a fast machine)."""
    with chaos.read_held(here, TABLE, postgres) as (process, held):
        assert held, "the load never asked for its rows"
        stop(process)
        _, stderr = process.communicate(timeout=60)  # with the read still held: the stop alone ends it
    return process.returncode, stderr


def assert_stopped_in_one_line(here: Lab, rc: int, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert rc == 130, stderr[-2000:]
    assert len(errors) == 1 and lines[-1] == errors[0] and "interrupted: run " in errors[0], stderr[-2000:]
    assert "restarted" not in stderr and "Traceback" not in stderr  # a stop is not retried
    with dg.DagsterInstance.from_config(str(here.dagster_home)) as instance:
        [run] = instance.get_runs(limit=1)
        assert run.run_id in errors[0] and run.status == dg.DagsterRunStatus.CANCELED
        assert instance.event_log_storage.get_concurrency_info("source_population").active_slot_count == 0


def test_ctrl_c_stops_the_run_at_once_in_one_line_and_the_next_run_is_exact(source, postgres, tmp_path):
    """ctrl-C (SIGINT to the process group, as a terminal sends it) while the load reads: exit 130,
    one line naming the run, the run CANCELED with its pool slot freed, and the next run exact."""
    demo, reference = source
    here = lab(tmp_path, demo, **postgres.urls)
    rc, stderr = stopped_while_reading(here, postgres, lambda process: os.killpg(process.pid, signal.SIGINT))
    assert_stopped_in_one_line(here, rc, stderr)
    stopped = chaos.Watched(rc, False, MOMENTS_EXTRACT, 0.0, stderr)
    assert_exact(chaos.recover_and_prove("SIGINT", here, TABLE, stopped, "bronze write", reference[TABLE], Freed()))


def test_terminate_from_the_ui_stops_a_run_of_ndc_sync(source, postgres, tmp_path):
    """The UI's Terminate goes through the instance's run launcher, which sets the run CANCELING
    (it has no code server to ask): `ndc`, the run's worker, stops it as it does on ctrl-C."""
    demo, _ = source
    here = lab(tmp_path, demo, **postgres.urls)

    def terminate(_process: subprocess.Popen[str]) -> None:
        with dg.DagsterInstance.from_config(str(here.dagster_home)) as instance:
            [run] = instance.get_runs(limit=1)
            instance.run_launcher.terminate(run.run_id)

    rc, stderr = stopped_while_reading(here, postgres, terminate)
    assert_stopped_in_one_line(here, rc, stderr)


def test_the_run_after_two_kills_in_one_source_does_not_hang(source, tmp_path, monkeypatch):
    """Issue 11 defect 1: two kills fill the source's pool (limit 2); `ndc sync` frees the dead
    runs' slots (orchestration/reclaim.py) instead of waiting for ever."""
    demo, _ = source
    here = lab(tmp_path, demo)
    for _ in range(2):
        chaos.kill_at(here, TABLE, "MERGE", delay=0.0)
    monkeypatch.setattr(chaos, "RUN_TIMEOUT_S", 120)
    watched = chaos.watch(chaos.start_sync(here, TABLE), TABLE, timeout=120)
    assert not watched.hung and watched.rc == 0, watched.tail


def test_two_runs_of_the_same_job_at_once_leave_silver_exact(source, tmp_path):
    demo, reference = source
    here = lab(tmp_path, demo)
    # The usual night: the Dagster home and the table exist. (Two first runs at once on a fresh
    # DAGSTER_HOME both create its SQLite storage and leave `alembic_version` with two heads, which
    # breaks every later run: a Dagster storage race reported with this suite, not tested here.)
    assert chaos.run_to_end(here, TABLE).rc == 0
    faulted, at = chaos.two_at_once(here, TABLE)
    assert_exact(chaos.recover_and_prove("two runs at once", here, TABLE, faulted, at, reference[TABLE], Freed()))


def test_a_full_disk_fails_the_load_and_the_next_run_after_space_is_freed_is_exact(source, tmp_path):
    demo, reference = source
    here = lab(tmp_path, demo)
    half = f"{max(16, chaos.table_bytes(demo.parent, TABLE) // 2048)}k"  # half of what the load writes
    with chaos.tmpfs(Path(here.warehouse_uri), half) as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs is not permitted here (needs root)")
        faulted = chaos.run_to_end(here, TABLE)
        assert faulted.rc not in (0, None), "the load fitted on the small disk: the fault was not injected"
        chaos.grow(Path(here.warehouse_uri))
        assert_exact(chaos.recover_and_prove("disk full", here, TABLE, faulted, "disk full", reference[TABLE], Freed()))


@pytest.fixture(scope="module")
def postgres(source):
    demo, _ = source
    with chaos.postgres_with(demo) as pg:
        if pg is None:
            pytest.skip("no PostgreSQL binaries here")
        yield pg


def test_postgresql_restarted_mid_extract_then_the_next_run_is_exact(source, postgres, tmp_path):
    demo, reference = source
    here = lab(tmp_path, demo, **postgres.urls)
    faulted, at = chaos.source_fault(here, TABLE, postgres, "restart")
    assert_exact(chaos.recover_and_prove("PostgreSQL restart", here, TABLE, faulted, at, reference[TABLE], Freed()))


def test_postgresql_frozen_mid_extract_fails_within_the_stall_limit_and_the_next_run_is_exact(
    source, postgres, tmp_path
):
    demo, reference = source
    catalogue = chaos.catalogue_with_stall_limit(tmp_path / "catalogue", "population", chaos.STALL_TIMEOUT_S)
    here = lab(tmp_path, demo, **postgres.urls, NDC_CATALOGUE_DIR=str(catalogue))
    faulted, at = chaos.source_fault(here, TABLE, postgres, "freeze")
    assert "in flight" in at, at  # frozen while the load waited for rows, not after it had them
    assert not faulted.hung, "a frozen source hung the load"
    # One line naming the source: the stall (first try), or a connect the frozen server never
    # answered (its retries).
    assert faulted.rc == 1 and "source 'population'" in faulted.tail.splitlines()[-1], faulted.tail
    assert_exact(chaos.recover_and_prove("PostgreSQL frozen", here, TABLE, faulted, at, reference[TABLE], Freed()))


def test_the_s3_server_stopped_mid_run_and_restarted_then_the_next_run_is_exact(source, tmp_path):
    demo, reference = source
    with chaos.seaweed(tmp_path) as server:
        if server is None:
            pytest.skip("no SeaweedFS binary here")
        here = chaos.s3_lab(tmp_path, demo, server, f"ndc-faults-{random.randrange(1 << 30):x}")
        faulted, at = chaos.s3_outage(here, TABLE, server)
        assert_exact(chaos.recover_and_prove("S3 outage", here, TABLE, faulted, at, reference[TABLE], Freed()))
