"""`ndc tables` and `ndc sql` with an analyst's gold-only key on a real SeaweedFS (defect 4)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from warehouse.s3 import ensure_buckets
from warehouse.tables import TableName, Warehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gold_only(tmp_path_factory):
    from devservers.seaweedfs import SeaweedServer, generate_credentials

    analyst_key, analyst_secret = generate_credentials()
    server = SeaweedServer.prepare(
        tmp_path_factory.mktemp("swsql"), readers=(("analyst", analyst_key, analyst_secret, ("ndc-gold",)),)
    )
    server.start(timeout=60)
    try:
        pipeline = server.settings("ndc-raw", "ndc-gold")
        ensure_buckets(pipeline)
        warehouse = Warehouse(pipeline)
        warehouse.overwrite(
            TableName("gold", "kpi", "linkage_by_province"), pa.table({"rows_landed": [3, 4]})
        )
        warehouse.replace_run(
            TableName("silver", "population", "citizens"), pa.table({"personal_id": ["1"]}), "r"
        )
        env = {
            "NDC_WAREHOUSE_URI": pipeline.warehouse_uri,
            "NDC_GOLD_URI": pipeline.gold_uri or "",
            "NDC_S3_ENDPOINT": pipeline.endpoint_url or "",
            "AWS_REGION": pipeline.region,
            "NDC_SQL_ROLE": "",
            "NDC_AUDIT_URI": "",
        }
        analyst = {**env, "AWS_ACCESS_KEY_ID": analyst_key, "AWS_SECRET_ACCESS_KEY": analyst_secret}
        engineer = {
            **env,
            "AWS_ACCESS_KEY_ID": pipeline.access_key_id or "",
            "AWS_SECRET_ACCESS_KEY": pipeline.secret_access_key or "",
        }
        yield analyst, engineer
    finally:
        server.stop()


def test_tables_lists_gold_and_names_the_zones_it_cannot_read(gold_only):
    analyst, _ = gold_only
    result = CliRunner(env=analyst).invoke(main, ["tables", "--json"])
    assert result.exit_code == 0, result.output
    assert [t["name"] for t in json.loads(result.stdout)] == ["gold.kpi.linkage_by_province"]
    note = " ".join(result.stderr.split())
    assert note == "not readable with these credentials, so not listed: bronze, silver, quarantine, ops"


def test_sql_on_gold_with_a_gold_only_key(gold_only, tmp_path: Path):
    analyst, engineer = gold_only
    query = "SELECT sum(rows_landed)::BIGINT AS n FROM gold.kpi.linkage_by_province"
    # The analyst's key may not append to the restricted zone: no audit record, no answer.
    withheld = CliRunner(env=analyst).invoke(main, ["sql", query, "--format", "json"])
    assert withheld.exit_code == 1 and "withheld" in withheld.output and "NDC_AUDIT_URI" in withheld.output
    # With an audit location the key can write, the query runs inside DuckDB's locked S3 session.
    audit = {**analyst, "NDC_AUDIT_URI": str(tmp_path / "audit")}
    answered = CliRunner(env=audit).invoke(main, ["sql", query, "--format", "json"])
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout) == [{"n": 7}]
    assert "not readable" not in answered.stderr  # gold alone was asked for: nothing else was listed
    raw = CliRunner(env=audit).invoke(
        main, ["sql", "SELECT * FROM silver.population.citizens", "--role", "restricted"]
    )
    assert raw.exit_code == 1 and "no table silver.population.citizens" in raw.output
    trail = pl.read_delta(str(tmp_path / "audit")).sort("at")
    assert trail["outcome"].to_list() == ["ok", "error"]
    # The engineers' key reads the raw zone on S3 through the same locked session.
    engineer_raw = CliRunner(env=engineer).invoke(
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
    assert engineer_raw.exit_code == 0, engineer_raw.output
    assert json.loads(engineer_raw.output) == [{"n": 1}]


def test_the_engine_keeps_s3_reads_inside_the_roles_zones(gold_only):
    """Even with the pipeline's own key, an analyst session's DuckDB opens gold objects only."""
    import duckdb

    from warehouse.sql import connect
    from warehouse.storage import StorageSettings

    _, engineer = gold_only
    settings = StorageSettings.from_env(engineer)
    con = connect(settings, "analyst")
    try:
        assert con.sql("SELECT sum(rows_landed)::BIGINT FROM gold.kpi.linkage_by_province").fetchone() == (7,)
        with pytest.raises(duckdb.PermissionException):
            con.execute(
                "SELECT * FROM read_parquet('s3://ndc-raw/silver/population/citizens/*.parquet')"
            ).fetchall()
        with pytest.raises(duckdb.Error):
            con.execute("SET allowed_directories = ['s3://ndc-raw/']")
    finally:
        con.close()
    restricted = connect(settings, "restricted")
    try:
        rows = restricted.execute(
            "SELECT count(*) FROM read_parquet('s3://ndc-raw/silver/population/citizens/*.parquet')"
        )
        assert rows.fetchone() == (1,)
    finally:
        restricted.close()
