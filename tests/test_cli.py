"""The `ndc` commands a newcomer types: demo, tables, sql, score."""

import json
import shutil
import sqlite3
from importlib import metadata

import pytest
from click.testing import CliRunner

from catalogue.loader import CATALOGUE_DIR
from orchestration.cli import main
from orchestration.demo_setup import prepare_demo_warehouse
from warehouse.demo_marker import MARKER_NAME, read_demo_marker, write_demo_marker

pytestmark = pytest.mark.slow  # runs `ndc demo` once, then commands against it


@pytest.fixture(scope="module")
def demo_done(tmp_path_factory):
    """`ndc demo` once, on a small population, with every piece of state in a temporary folder."""
    root = tmp_path_factory.mktemp("cli")
    env = {
        "NDC_DEMO_DIR": str(root / "demo"),
        "NDC_WAREHOUSE_URI": str(root / "warehouse"),
        "DAGSTER_HOME": str(root / "dagster"),
        "NDC_TODAY": "2026-11-01",
        # A real-length key: the demo key is for the demo's own marked warehouse only (see
        # tests/test_pseudonym_key_policy.py), and this warehouse is a temporary folder.
        "NDC_PSEUDONYM_KEY": "cli-test-key-0123456789-0123456789-0123456789",
        "NDC_SQL_ROLE": "",
    }
    runner = CliRunner(env=env)
    result = runner.invoke(main, ["demo", "--citizens", "400", "--seed", "3"], catch_exceptions=False)
    return runner, result, root


def test_demo_runs_the_job_and_prints_a_summary(demo_done):
    _, result, root = demo_done
    assert result.exit_code == 0, result.output
    for table in ("population.citizens", "civil_status.births", "welfare.payments"):
        assert table in result.output
    assert "NO" not in result.output  # every load balanced
    assert "clean" in result.output and "checks passed" not in result.output  # rules, not a score
    assert "ndc tables" in result.output  # the next commands to try
    assert f"DAGSTER_HOME={root / 'dagster'} uv run dagster dev" in result.output.replace("\n", "")
    assert (root / "dagster" / "dagster.yaml").exists()


def test_tables_json_lists_every_layer_with_counts(demo_done):
    runner, _, _ = demo_done
    result = runner.invoke(main, ["tables", "--json"])
    assert result.exit_code == 0, result.output
    tables = {t["name"]: t for t in json.loads(result.output)}
    assert len([n for n in tables if n.startswith("silver.") and not n.endswith("__sensitive")]) == 10
    # Sensitive columns are stored apart: salaries, benefit types, payment amounts.
    assert {n for n in tables if n.endswith("__sensitive")} == {
        "silver.social_insurance.contribution_periods__sensitive",
        "silver.welfare.beneficiaries__sensitive",
        "silver.welfare.payments__sensitive",
    }
    assert {"gold.people.citizen_360", "ops.pipeline.loads", "quarantine.population.citizens"} <= set(tables)
    assert all(t["rows"] >= 0 and t["version"] >= 0 and t["uri"] for t in tables.values())


def test_sql_reads_tables_by_layer_domain_table(demo_done):
    runner, _, _ = demo_done
    listed = {t["name"]: t["rows"] for t in json.loads(runner.invoke(main, ["tables", "--json"]).output)}
    result = runner.invoke(
        main,
        [
            "sql",
            "SELECT count(*) AS n FROM silver.population.citizens",
            "--format",
            "json",
            "--role",
            "restricted",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"n": listed["silver.population.citizens"]}]
    csv = runner.invoke(
        main,
        [
            "sql",
            "SELECT source, extracted FROM ops.pipeline.loads",
            "--format",
            "csv",
            "--role",
            "restricted",
        ],
    )
    assert csv.output.splitlines()[0] == "source,extracted"


def test_sql_error_names_the_problem_and_the_tables(demo_done):
    runner, _, _ = demo_done
    result = runner.invoke(main, ["sql", "SELECT * FROM silver.population.nobody", "--role", "restricted"])
    assert result.exit_code != 0
    assert "nobody" in result.output and "silver.population.citizens" in result.output


def test_analysts_read_gold_and_need_a_role_for_raw_zones(demo_done):
    runner, _, _ = demo_done
    gold = runner.invoke(
        main, ["sql", "SELECT count(*) AS n FROM gold.people.citizen_360", "--format", "json"]
    )
    assert gold.exit_code == 0, gold.output
    assert json.loads(gold.output)[0]["n"] > 0
    raw = runner.invoke(main, ["sql", "SELECT count(*) FROM quarantine.population.citizens"])
    assert raw.exit_code == 1 and "--role restricted" in raw.output


def test_quarantine_rules_export_as_csv(demo_done):
    """The query of issue 11 that crashed with 'CSV format does not support nested data'."""
    runner, _, _ = demo_done
    query = "SELECT _rules, count(*) AS n FROM quarantine.population.citizens GROUP BY ALL ORDER BY n DESC"
    listed = runner.invoke(main, ["sql", query, "--format", "json", "--role", "restricted"])
    exported = runner.invoke(main, ["sql", query, "--format", "csv", "--role", "restricted"])
    assert exported.exit_code == 0, exported.output
    lines = exported.output.splitlines()
    expected = ["|".join(row["_rules"]) + f",{row['n']}" for row in json.loads(listed.output)]
    assert lines[0] == "_rules,n" and sorted(lines[1:]) == sorted(expected)  # ties on n come in any order


def test_score_reports_every_table_against_the_truth(demo_done):
    runner, _, _ = demo_done
    result = runner.invoke(main, ["score", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert len(scores) == 10
    assert sum(s["linked_wrong"] for s in scores) == 0
    assert all(0 <= s["precision"] <= 1 and 0 <= s["recall"] <= 1 for s in scores)


# -- every user mistake: one line on stderr, a non-zero exit, every table as it was -------------


def table_state(runner: CliRunner) -> dict[str, tuple[int, int]]:
    """Each table's (Delta version, rows), as `ndc tables --json` reports them."""
    listed = runner.invoke(main, ["tables", "--json"])
    assert listed.exit_code == 0, listed.output
    return {t["name"]: (t["version"], t["rows"]) for t in json.loads(listed.stdout)}


def assert_one_error_line(result, exit_code: int, *named: str) -> str:
    """Exactly one line on stderr, `error: …`, naming what the user must fix; no traceback."""
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in named:
        assert word in lines[0], lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def test_a_typo_in_demo_arguments_deletes_nothing(demo_done):
    runner, _, root = demo_done
    before, marker = table_state(runner), (root / "warehouse" / MARKER_NAME).read_text()
    for arguments in (["--citizens", "-5"], ["--seed", "-1"], ["--backend", "oracle"]):
        result = runner.invoke(main, ["demo", *arguments])
        assert_one_error_line(result, 2, arguments[0])
    assert table_state(runner) == before
    assert (root / "warehouse" / MARKER_NAME).read_text() == marker


def test_demo_marks_the_warehouse_it_created(demo_done):
    _, _, root = demo_done
    assert read_demo_marker(str(root / "warehouse")) == {"citizens": 400, "seed": 3}


def test_an_unknown_table_is_one_line_listing_the_known_ones(demo_done):
    runner, _, _ = demo_done
    before = table_state(runner)
    result = runner.invoke(main, ["sync", "--table", "population.nobody"])
    assert_one_error_line(result, 2, "population.nobody", "population.citizens", "welfare.payments")
    assert table_state(runner) == before


def test_a_catalogue_typo_is_the_loaders_message_alone(demo_done, tmp_path):
    runner, _, _ = demo_done
    catalogue = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, catalogue, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    welfare = catalogue / "sources" / "welfare.yml"
    welfare.write_text(welfare.read_text().replace("to: benefit_type,", "to: benefit_typo,"))
    before = table_state(runner)
    for command in (["sync"], ["demo", "--citizens", "400", "--seed", "3", "--reuse-sources"]):
        result = runner.invoke(main, command, env={"NDC_CATALOGUE_DIR": str(catalogue)})
        assert_one_error_line(result, 1, "welfare.yml", "benefit_typo", "welfare_beneficiary")
    assert table_state(runner) == before


def test_a_renamed_source_table_fails_once_naming_source_and_table(demo_done, tmp_path):
    runner, _, root = demo_done
    demo_dir = tmp_path / "demo"
    shutil.copytree(root / "demo", demo_dir)
    with sqlite3.connect(demo_dir / "population.sqlite") as con:
        con.execute("ALTER TABLE cong_dan RENAME TO cong_dan_2026")
    before = table_state(runner)
    result = runner.invoke(
        main, ["sync", "--table", "population.citizens"], env={"NDC_DEMO_DIR": str(demo_dir)}
    )
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    assert "population.citizens" in errors[0] and "'population'" in errors[0] and "cong_dan" in errors[0]
    assert "catalogue" in errors[0]  # what to do: check the names in the source catalogue
    assert "Traceback" not in result.output and "Stack Trace" not in result.output
    assert "next:" not in result.output  # no success hint after a failed run
    assert table_state(runner) == before


def test_an_s3_warehouse_without_keys_names_the_settings_before_any_run(demo_done):
    runner, _, _ = demo_done
    unset = dict.fromkeys(
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "NDC_S3_ENDPOINT",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
        ]
    )
    env = {**unset, "NDC_WAREHOUSE_URI": "s3://bucket"}
    for command in (["sync"], ["tables"], ["demo", "--citizens", "400", "--reuse-sources"]):
        result = runner.invoke(main, command, env=env)
        assert_one_error_line(
            result, 1, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "NDC_S3_ENDPOINT", "AWS_ENDPOINT_URL"
        )


def test_demo_refuses_a_warehouse_it_did_not_create(tmp_path):
    warehouse = tmp_path / "someones-warehouse"
    (warehouse / "silver" / "x" / "y").mkdir(parents=True)
    (warehouse / "silver" / "x" / "y" / "data.parquet").write_bytes(b"precious")
    env = {
        "NDC_DEMO_DIR": str(tmp_path / "demo"),
        "NDC_WAREHOUSE_URI": str(warehouse),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    result = CliRunner(env=env).invoke(main, ["demo", "--citizens", "400"])
    assert_one_error_line(result, 1, str(warehouse), "NDC_WAREHOUSE_URI")
    assert (warehouse / "silver" / "x" / "y" / "data.parquet").read_bytes() == b"precious"
    assert not (warehouse / MARKER_NAME).exists()
    assert not (tmp_path / "demo").exists()  # refused before generating anything


def test_demo_resets_only_a_warehouse_carrying_its_marker(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse"
    monkeypatch.setenv("NDC_WAREHOUSE_URI", str(warehouse))
    write_demo_marker(str(warehouse), {"citizens": 200, "seed": 1})
    (warehouse / "silver").mkdir()
    prepare_demo_warehouse(200, 1)  # the same demo: kept
    assert (warehouse / "silver").is_dir()
    prepare_demo_warehouse(300, 1)  # another size: its own warehouse starts afresh
    assert not (warehouse / "silver").exists()
    assert read_demo_marker(str(warehouse)) == {"citizens": 300, "seed": 1}


def test_the_default_demo_warehouse_from_before_the_marker_is_adopted(tmp_path, monkeypatch):
    """A demo warehouse made before the marker existed (stamp in .ndc/demo-warehouse.json) is kept."""
    monkeypatch.setenv("NDC_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("NDC_WAREHOUSE_URI", raising=False)
    warehouse, stamp = tmp_path / ".ndc" / "warehouse", tmp_path / ".ndc" / "demo-warehouse.json"
    (warehouse / "silver").mkdir(parents=True)
    stamp.write_text(json.dumps({"citizens": 400, "seed": 3}))
    prepare_demo_warehouse(400, 3)
    assert (warehouse / "silver").is_dir() and not stamp.exists()
    assert read_demo_marker(str(warehouse)) == {"citizens": 400, "seed": 3}


# -- output: complete when piped, JSON everywhere a table is printed -----------------------------


def test_piped_tables_are_never_cut(demo_done):
    runner, demo, _ = demo_done
    listed = runner.invoke(main, ["tables"])
    scored = runner.invoke(main, ["score"])
    queried = runner.invoke(main, ["sql", "SELECT * FROM gold.people.citizen_360 LIMIT 2"])
    for output in (demo.stdout, listed.stdout, scored.stdout, queried.stdout):
        assert "…" not in output
    header = next(line for line in queried.stdout.splitlines() if "person_pseudonym" in line)
    assert all(column in header for column in json.loads(
        runner.invoke(main, ["sql", "SELECT * FROM gold.people.citizen_360 LIMIT 1", "--format", "json"]).stdout
    )[0])  # every column named whole on one line, none squeezed to a few characters
    assert "social_insurance.contribution_periods" in demo.stdout
    names = json.loads(runner.invoke(main, ["tables", "--json"]).stdout)
    for entry in names:  # one row per table, name and URI whole
        assert any(entry["name"] in line and entry["uri"] in line for line in listed.stdout.splitlines())
    assert "split wards flagged" in scored.stdout


def test_sync_json_reports_the_run(demo_done):
    runner, _, _ = demo_done
    result = runner.invoke(main, ["sync", "--table", "welfare.payments", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["success"] is True and report["failures"] == []
    (load,) = report["loads"]
    assert load["table"] == "welfare.payments"
    assert load["extracted"] == load["landed"] + load["quarantined"] + load["deduplicated"]
    assert load["balanced"] is True and 0 < load["checks_passed"] <= load["checks"]
    assert load["rules_clean"] + load["rules_warned"] + load["rules_failed"] == load["checks"] - 1
    assert load["rules_failed"] == 0
    # Nothing changed at the source since the demo: the run says so and keeps the demo's outcomes.
    assert load["this_load"].startswith("no new rows since watermark")
    assert len(load["rules_restated_from"]) == 1 and load["rules_restated_from"][0] != report["run_id"]


def test_a_full_refresh_and_a_window_are_one_or_the_other(demo_done):
    runner, _, _ = demo_done
    before = table_state(runner)
    result = runner.invoke(main, ["sync", "--full-refresh", "--since", "2026-10-01"])
    assert_one_error_line(result, 2, "--full-refresh", "--since")
    assert table_state(runner) == before


def test_version_and_help_are_complete():
    runner = CliRunner()
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and metadata.version("ndc-pipelines") in version.stdout
    helped = runner.invoke(main, ["--help"], terminal_width=80)
    commands = helped.stdout.split("Commands:")[1]
    assert helped.exit_code == 0 and "..." not in commands
    assert "or a window of days, as one run" in " ".join(commands.split())  # once cut at "..."


def test_a_killed_sync_never_blocks_the_next_one(demo_done):
    """SIGKILL `ndc sync` while its load holds the population pool's slot (issue 11, defect 1): the
    next sync frees the dead run's slot, says so, completes, and silver is as it was.

    The CLI is the run's worker (orchestration/launch.py) and runs the one step itself; the whole
    process group is killed, as a lost machine or an OOM
    kill of the session would."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import dagster as dg

    runner, _, root = demo_done
    env = {**os.environ, **{k: v for k, v in runner.env.items() if v is not None}}
    command = [sys.executable, "-m", "orchestration.cli", "sync", "--full-refresh", "--table", "population.citizens"]
    project = Path(__file__).resolve().parents[1]
    silver_before = {t["name"]: t["rows"] for t in json.loads(runner.invoke(main, ["tables", "--json"]).output)}

    killed = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:
        deadline = time.monotonic() + 300
        while instance.event_log_storage.get_concurrency_info("source_population").active_slot_count == 0:
            assert killed.poll() is None and time.monotonic() < deadline, "the load never claimed its slot"
            time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()

    rerun = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)

    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "freed the source_population pool slots" in rerun.stderr
    silver_after = {t["name"]: t["rows"] for t in json.loads(runner.invoke(main, ["tables", "--json"]).output)}
    assert silver_after["silver.population.citizens"] == silver_before["silver.population.citizens"]


@pytest.mark.parametrize(("day", "says"), [("2026-13-01", "month must be in 1..12"), ("yesterday", "YYYY-MM-DD")])
def test_a_day_that_is_none_is_told_in_the_words_of_the_help(day, says):
    result = CliRunner().invoke(main, ["sync", "--since", day, "--table", "population.citizens"])
    line = assert_one_error_line(result, 2, "--since", repr(day), says)
    assert "%" not in line  # not click's strftime pattern
