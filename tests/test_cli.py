"""The `ndc` commands a newcomer types: demo, tables, sql, score."""

import json

import pytest
from click.testing import CliRunner

from orchestration.cli import main


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
    assert "ndc tables" in result.output  # the next commands to try
    assert (root / "dagster" / "dagster.yaml").exists()


def test_tables_json_lists_every_layer_with_counts(demo_done):
    runner, _, _ = demo_done
    result = runner.invoke(main, ["tables", "--json"])
    assert result.exit_code == 0, result.output
    tables = {t["name"]: t for t in json.loads(result.output)}
    assert len([n for n in tables if n.startswith("silver.")]) == 10
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
    assert lines[0] == "_rules,n" and lines[1:] == expected


def test_score_reports_every_table_against_the_truth(demo_done):
    runner, _, _ = demo_done
    result = runner.invoke(main, ["score", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert len(scores) == 10
    assert sum(s["linked_wrong"] for s in scores) == 0
    assert all(0 <= s["precision"] <= 1 and 0 <= s["recall"] <= 1 for s in scores)
