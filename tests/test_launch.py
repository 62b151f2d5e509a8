"""`ndc sync` makes real runs of nightly_sync: in the job's history with the code location of
workspace.yaml (what the UI's Runs tab lists), with `ndc` as their run worker, tagged with its pid
for reclaim, and a failing step still ends as one line and exit 1.

Real parts throughout: a small generated demo, a temporary DAGSTER_HOME with the project's
dagster.yaml, the code location of workspace.yaml.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import yaml
from click.testing import CliRunner

from demo.generator import generate
from orchestration.cli import main
from orchestration.launch import worker_pid

pytestmark = pytest.mark.slow  # loads the code location and runs real loads

ROOT = Path(__file__).resolve().parents[1]
TABLE = "population.citizens"
@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("launch")
    generate(root / "demo", citizens=300, seed=5)
    return {
        "NDC_DEMO_DIR": str(root / "demo"),
        "NDC_WAREHOUSE_URI": str(root / "warehouse"),
        "DAGSTER_HOME": str(root / "dagster"),
        "NDC_TODAY": "2026-11-01",
        "NDC_PSEUDONYM_KEY": "launch-test-key-0123456789-0123456789-0123456789",
    }


def location_name() -> str:
    [entry] = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    return entry["python_module"]["location_name"]


def test_a_sync_is_a_run_of_the_job_in_its_history(env):
    result = CliRunner(env=env).invoke(main, ["sync", "--full-refresh", "--table", TABLE, "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["success"] is True and [load["table"] for load in report["loads"]] == [TABLE]
    assert report["loads"][0]["checks"] > 0  # check results are read from the run's event log
    assert f"{TABLE}: extracting" in result.stderr  # the load's own progress, printed as it ran
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="nightly_sync"))
        [run] = [r for r in runs if r.run_id == report["run_id"]]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.remote_job_origin is not None  # what the UI's Runs tab and timeline need
        assert run.remote_job_origin.location_name == location_name()
        records = instance.get_records_for_run(run.run_id).records
        [pid] = {p for r in records if (p := worker_pid(r.event_log_entry)) is not None}
        # `ndc` is the run's worker (orchestration/launch.py): no code server, no second process
        # loading the Definitions again, and reclaim watches this very pid.
        assert pid == os.getpid() and run.tags["ndc/pid"] == str(pid)
        # A run of one step runs it in the run worker (orchestration/executors.py): no step
        # process to start, which was most of a one-table refresh's bookkeeping (issue 9).
        events = [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]
        step_pids = {e.pid for e in events if e.event_type_value == "STEP_START"}
        assert step_pids == {pid}
        assert not [e for e in events if e.event_type_value == "STEP_WORKER_STARTING"]


def test_a_failing_step_is_one_line_and_exit_1(env, tmp_path):
    broken = tmp_path / "demo"
    shutil.copytree(env["NDC_DEMO_DIR"], broken)
    with sqlite3.connect(broken / "population.sqlite") as con:
        con.execute("ALTER TABLE cong_dan RENAME TO cong_dan_2026")

    result = CliRunner(env={**env, "NDC_DEMO_DIR": str(broken)}).invoke(main, ["sync", "--table", TABLE])

    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    assert TABLE in errors[0] and "'population'" in errors[0] and "cong_dan" in errors[0]
    assert "Traceback" not in result.output
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [last, *_] = instance.get_runs(filters=dg.RunsFilter(job_name="nightly_sync"), limit=1)
        assert last.status == dg.DagsterRunStatus.FAILURE
