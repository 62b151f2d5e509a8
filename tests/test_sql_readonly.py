"""`ndc sql` is read-only, zoned and audited; CSV exports are flat and inert (issue 11, defects 4 and 10).

A small warehouse of real Delta tables on disk, real DuckDB, the real command line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from warehouse.audit import read_audit
from warehouse.sql import connect, csv_safe
from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

PAYMENTS = TableName("silver", "welfare", "payments__sensitive")  # where amount_vnd lives
QUARANTINE = TableName("quarantine", "population", "citizens")
PEOPLE = TableName("gold", "people", "citizen_360")


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    settings = StorageSettings.from_env({"NDC_WAREHOUSE_URI": str(tmp_path / "warehouse")})
    house = Warehouse(settings)
    house.replace_run(
        PAYMENTS,
        pa.table(
            {"payment_id": ["p1", "p2", "p3"], "beneficiary_id": ["b1", "b2", "b3"], "amount_vnd": [1, 2, 3]}
        ),
        "run-1",
    )
    house.replace_run(
        QUARANTINE,
        pa.table(
            {
                "full_name": ['=HYPERLINK("http://x","y")', "+1-2", "An"],
                "_rules": [["personal_id_format", "date_of_birth_future"], ["phone_format"], []],
            }
        ),
        "run-1",
    )
    house.overwrite(
        PEOPLE,
        pa.table(
            {
                "person_pseudonym": ["a" * 64, "b" * 64],
                "birth_year_band": [1980, 1990],
                "ministries_known": [1, 2],
            }
        ),
    )
    return house


def cli(warehouse: Warehouse, *args: str, **env: str):
    environ = {
        "NDC_WAREHOUSE_URI": warehouse.settings.warehouse_uri,
        "NDC_SQL_ROLE": "",
        "NDC_ANALYST": "",
        **env,
    }
    return CliRunner(env=environ).invoke(main, list(args))


def state(warehouse: Warehouse) -> dict[str, tuple[int, int]]:
    """(Delta version, rows) of every table but the audit trail, and every file's name and size."""
    root = Path(warehouse.settings.warehouse_uri)
    tables = {
        str(n): (warehouse.version(n), warehouse.read(n).height) for n in (PAYMENTS, QUARANTINE, PEOPLE)
    }
    files = {
        str(p.relative_to(root)): (p.stat().st_size, 0)
        for p in root.rglob("*")
        if p.is_file() and "audit" not in p.parts
    }
    return {**tables, **files}


ATTACKS = {
    "forged delta commit": "COPY (SELECT 1 AS x) TO '{root}/silver/welfare/payments__sensitive/_delta_log/00000000000000000001.json'",
    "read /etc/passwd": "SELECT * FROM read_csv('/etc/passwd', sep=':')",
    "file as a table": "SELECT * FROM '/etc/passwd'",
    "attach a new file": "ATTACH '{root}/../stolen.duckdb' AS stolen",
    "copy into an attached file": "SELECT 1; ATTACH '{root}/../stolen.duckdb' AS s; CREATE TABLE s.c AS FROM gold.people.citizen_360",
    "install": "INSTALL spatial",
    "load": "LOAD spatial",
    "export": "EXPORT DATABASE '{root}/../exported'",
    "ddl": "CREATE TABLE gold.people.x AS SELECT 1",
    "dml": "DELETE FROM gold.people.citizen_360",
    "unlock": "SET enable_external_access = true",
    "raw zone as an analyst": "SELECT count(*) FROM silver.welfare.payments__sensitive",
    "raw files as an analyst": "SELECT * FROM read_parquet('{root}/silver/welfare/payments__sensitive/*.parquet')",
    "query() smuggling": "SELECT * FROM query('COPY (SELECT 1) TO ''{root}/x.csv''')",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_is_refused_in_one_line_and_changes_nothing(warehouse, attack):
    root = warehouse.settings.warehouse_uri
    before = state(warehouse)
    result = cli(warehouse, "sql", ATTACKS[attack].format(root=root))
    assert result.exit_code == 1, result.output
    message = result.output.strip()
    assert message.startswith("error: refused:") and len(message.splitlines()) == 1, message
    assert state(warehouse) == before
    assert (
        not (Path(root).parent / "stolen.duckdb").exists() and not (Path(root).parent / "exported").exists()
    )
    refused = read_audit(warehouse.settings).row(-1, named=True)
    assert refused["outcome"] == "refused" and refused["query"] == ATTACKS[attack].format(root=root)


def test_the_engine_itself_holds_the_walls(warehouse):
    """Past the statement check, DuckDB refuses on its own: no file outside the zone, no unlocking."""
    con = connect(warehouse.settings, "analyst")
    try:
        assert con.sql("SELECT count(*) FROM gold.people.citizen_360").fetchone() == (2,)
        for escape in (
            "SELECT * FROM read_csv('/etc/passwd', sep=':')",
            f"SELECT * FROM read_parquet('{warehouse.settings.warehouse_uri}/silver/welfare/payments__sensitive/*.parquet')",
            f"ATTACH '{warehouse.settings.warehouse_uri}/../x.duckdb' AS x",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "LOAD spatial",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(escape)
    finally:
        con.close()


def test_restricted_role_reads_raw_zones_and_is_audited(warehouse):
    analyst = cli(warehouse, "sql", "SELECT count(*) AS n FROM silver.welfare.payments__sensitive", "--format", "json")
    assert analyst.exit_code == 1 and "--role restricted" in analyst.output
    by_flag = cli(
        warehouse,
        "sql",
        "SELECT count(*) AS n FROM silver.welfare.payments__sensitive",
        "--format",
        "json",
        "--role",
        "restricted",
    )
    assert by_flag.exit_code == 0, by_flag.output
    assert json.loads(by_flag.output) == [{"n": 3}]
    by_env = cli(
        warehouse,
        "sql",
        "SELECT payment_id, amount_vnd FROM silver.welfare.payments__sensitive",
        "--format",
        "json",
        NDC_SQL_ROLE="restricted",
    )
    assert by_env.exit_code == 0, by_env.output
    trail = read_audit(warehouse.settings)
    assert trail["outcome"].to_list() == ["refused", "ok", "ok"]
    assert trail["role"].to_list() == ["analyst", "restricted", "restricted"]
    last = trail.row(-1, named=True)
    assert last["tables"] == ["silver.welfare.payments__sensitive"] and last["rows"] == 3
    assert last["personal_columns"] == ["silver.welfare.payments__sensitive.amount_vnd:sensitive"]
    assert last["output"] == "export:json" and last["os_user"]


def test_audit_records_who_what_and_the_personal_columns(warehouse):
    ok = cli(
        warehouse,
        "sql",
        "SELECT birth_year_band, count(*) AS n FROM gold.people.citizen_360 GROUP BY ALL",
        NDC_ANALYST="nguyen.van.a",
    )
    assert ok.exit_code == 0, ok.output
    counted = cli(warehouse, "sql", "SELECT count(*) FROM gold.people.citizen_360")
    assert counted.exit_code == 0, counted.output
    broken = cli(warehouse, "sql", "SELECT nothing FROM gold.people.citizen_360")
    assert broken.exit_code == 1
    trail = read_audit(warehouse.settings)
    first, second, third = trail.iter_rows(named=True)
    assert first["analyst"] == "nguyen.van.a" and first["outcome"] == "ok" and first["rows"] == 2
    assert first["tables"] == ["gold.people.citizen_360"]
    assert first["personal_columns"] == ["gold.people.citizen_360.birth_year_band:basic"]
    assert second["personal_columns"] == [] and second["analyst"] is None  # count(*) reads no column
    assert third["outcome"] == "error" and "nothing" in third["reason"]

    shown = cli(warehouse, "audit", "--json", NDC_SQL_ROLE="restricted")
    assert shown.exit_code == 0, shown.output
    assert [r["outcome"] for r in json.loads(shown.output)] == ["ok", "ok", "error"]
    later = cli(warehouse, "audit", "--json", "--since", "2999-01-01")
    assert json.loads(later.output) == []
    table = cli(warehouse, "audit")
    assert "nguyen.van.a" in table.output and "birth_year_band" in table.output


@pytest.mark.parametrize(
    "query",
    [
        "SELECT error(string_agg(payment_id || ' ' || amount_vnd, ', ')) FROM silver.welfare.payments__sensitive",
        "SELECT CAST(string_agg(payment_id || ':' || amount_vnd, ',') AS INTEGER) FROM silver.welfare.payments__sensitive",
    ],
)
def test_a_query_that_fails_as_it_runs_is_audited_with_what_it_read_and_none_of_the_values(warehouse, query):
    """An error raised while the query runs can quote the rows it read: the trail records the tables
    and personal columns as for a result, and not the message (the values would sit in the trail)."""
    failed = cli(warehouse, "sql", query, "--role", "restricted")
    assert failed.exit_code == 1 and "p1" in failed.output  # the engine's own words, to the reader who may see them
    assert "columns of silver.welfare.payments__sensitive: payment_id" in failed.output
    assert "quarantine.population.citizens" not in failed.output  # a table the query does not name
    record = read_audit(warehouse.settings).row(-1, named=True)
    assert record["outcome"] == "error" and record["rows"] is None
    assert record["tables"] == ["silver.welfare.payments__sensitive"]
    assert record["personal_columns"] == ["silver.welfare.payments__sensitive.amount_vnd:sensitive"]
    assert "p1" not in record["reason"] and "Exception while running" in record["reason"]


def test_a_wrong_column_is_answered_with_the_named_tables_columns_not_every_table(warehouse):
    wrong = cli(warehouse, "sql", "SELECT amount FROM silver.welfare.payments__sensitive", "--role", "restricted")
    assert wrong.exit_code == 1
    assert "columns of silver.welfare.payments__sensitive: payment_id, beneficiary_id, amount_vnd" in wrong.output
    assert "quarantine.population.citizens" not in wrong.output  # a table the query does not name
    missing = cli(warehouse, "sql", "SELECT * FROM silver.welfare.payment", "--role", "restricted")
    assert missing.exit_code == 1 and "quarantine.population.citizens" in missing.output  # here the list helps


def test_a_failed_read_of_storage_is_not_answered_by_reading_storage_again(warehouse):
    """A file the table names is gone (or S3 is down): the error says so and lists the zone's
    tables, without describing the named table, which would read storage again (an outage's retries)."""
    payments = Path(warehouse.settings.warehouse_uri) / "silver" / "welfare" / "payments__sensitive"
    for data in payments.glob("*.parquet"):
        data.unlink()
    failed = cli(warehouse, "sql", "SELECT * FROM silver.welfare.payments__sensitive", "--role", "restricted")
    assert failed.exit_code == 1 and "IO Error" in failed.output and "No such file" in failed.output
    assert "tables: " in failed.output and "columns of" not in failed.output


def test_command_line_mistakes_are_usage_errors_and_sql_takes_json(warehouse):
    for args in (["audit", "--since", "yesterday"], ["changes", "silver.population.citizens", "--since", "yesterday"]):
        typo = cli(warehouse, *args, "--role", "restricted") if args[0] == "changes" else cli(warehouse, *args)
        assert typo.exit_code == 2 and "'yesterday' is no time: give e.g. 7d" in typo.output
    assert cli(warehouse, "audit", "--since", "99999999d").exit_code == 2  # before year 1: no time either
    misspelt = cli(warehouse, "changes", "silver.population.citizen", "--since", "7d", "--role", "restricted")
    assert misspelt.exit_code == 1 and "no such table in the catalogue" in misspelt.output
    assert "silver.population.citizens" in misspelt.output
    query = "SELECT birth_year_band FROM gold.people.citizen_360 ORDER BY 1"
    assert cli(warehouse, "sql", query, "--json").output == cli(warehouse, "sql", query, "--format", "json").output
    assert cli(warehouse, "sql", query, "--json", "--format", "csv").exit_code == 2
    # The misspelt table was audited as an error; the usage errors reached no table and left no record.
    assert read_audit(warehouse.settings)["outcome"].to_list() == ["error", "ok", "ok"]


def test_audit_trail_is_append_only(warehouse):
    from deltalake import DeltaTable

    assert cli(warehouse, "sql", "SELECT 1 AS one").exit_code == 0
    trail = DeltaTable(f"{warehouse.settings.warehouse_uri}/ops/audit/queries")
    assert trail.metadata().configuration.get("delta.appendOnly") == "true"
    with pytest.raises(Exception, match=r"(?i)append"):  # delta-rs names the table property
        trail.delete()
    assert read_audit(warehouse.settings).height == 1


def test_no_result_without_an_audit_record(warehouse, tmp_path):
    """Fail closed: an audit location that cannot be written withholds the answer."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the audit table should be")
    result = cli(
        warehouse, "sql", "SELECT count(*) AS n FROM gold.people.citizen_360", NDC_AUDIT_URI=str(blocked)
    )
    assert result.exit_code == 1
    assert "audit trail" in result.output and "withheld" in result.output and "[2]" not in result.output


def test_csv_export_joins_lists_and_defuses_formulas(warehouse):
    result = cli(
        warehouse,
        "sql",
        "SELECT full_name, _rules FROM quarantine.population.citizens ORDER BY full_name",
        "--format",
        "csv",
        "--role",
        "restricted",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["full_name"]: r["_rules"] for r in rows} == {
        "'+1-2": "phone_format",
        '\'=HYPERLINK("http://x","y")': "personal_id_format|date_of_birth_future",
        "An": "",
    }
    grouped = cli(
        warehouse,
        "sql",
        "SELECT _rules, count(*) AS n FROM quarantine.population.citizens GROUP BY ALL",
        "--format",
        "csv",
        "--role",
        "restricted",
    )
    assert grouped.exit_code == 0, grouped.output
    assert "personal_id_format|date_of_birth_future,1" in grouped.output.splitlines()


def test_csv_safe_covers_every_formula_start_and_leaves_numbers():
    import polars as pl

    frame = pl.DataFrame(
        {
            "text": ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "plain", None],
            "number": [-1, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    safe = csv_safe(frame)
    assert safe["text"].to_list() == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "plain", None]
    assert safe["number"].to_list() == frame["number"].to_list()


def test_sql_format_has_help():
    result = CliRunner().invoke(main, ["sql", "--help"])
    assert "export every row" in result.output and "'|'" in result.output and "--role" in result.output


def test_personal_data_classes_come_from_the_catalogue_and_gold():
    from catalogue import load_catalogue
    from pipeline.gold import GOLD_PERSONAL_DATA
    from warehouse.audit import personal_columns_touched, personal_data_classes

    classes = personal_data_classes(load_catalogue(), GOLD_PERSONAL_DATA)
    assert classes["silver.population.citizens"]["personal_id"] == "basic"
    assert classes["silver.welfare.payments__sensitive"]["amount_vnd"] == "sensitive"
    assert "amount_vnd" not in classes["silver.welfare.payments"]  # stored apart
    assert classes["quarantine.welfare.payments__files"]["content"] == "sensitive"
    assert classes["gold.people.citizen_360"]["person_pseudonym"] == "basic"
    touched = personal_columns_touched(
        ["silver.population.citizens", "gold.kpi.linkage_by_province"], {"personal_id", "updated_at"}, classes
    )
    assert touched == ["silver.population.citizens.personal_id:basic"]  # updated_at is not personal
