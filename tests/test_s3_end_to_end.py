"""`ndc demo`, `ndc tables`, `ndc sql` unchanged on S3: the nightly_sync job on a real SeaweedFS.

Every table `ndc tables --json` lists is read back by an independent reader (DuckDB's delta
extension over S3, through `StorageSettings.duckdb_setup`) and must hold exactly the rows the
CLI reports. A local-warehouse twin of that comparison runs on a tiny demo, so the check does
not depend on S3 being there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from assets.resources import PseudonymKeyResource, WarehouseResource
from catalogue import load_catalogue
from demo.generator import generate
from orchestration.runs import full_refresh_config
from pipeline.names import LoadNames
from quality.docs_server import DocsStore
from quality.publish import data_docs_root, docs_base_url
from tests.fixtures.environment import environment
from warehouse.catalog import warehouse_tables
from warehouse.committed import LOADS
from warehouse.objects import ObjectStore
from warehouse.sql import run_sql, tables_named_in
from warehouse.storage import StorageSettings, split_s3_uri
from warehouse.tables import TableName, Warehouse

pytestmark = pytest.mark.slow

S3_CITIZENS = 800
LOCAL_CITIZENS = 300
TODAY = "2026-11-01"  # the generator's run date: "future" means after it



def demo_environment(root: Path, warehouse_uri: str) -> dict[str, str | None]:
    home = root / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("")  # the CLI copies the project's settings only when absent
    return {
        "NDC_DEMO_DIR": str(root / "demo"),
        "NDC_WAREHOUSE_URI": warehouse_uri,
        "NDC_GOLD_URI": None,
        "NDC_TODAY": TODAY,
        "DAGSTER_HOME": str(home),
    }


def run_nightly_sync() -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    # Resources read the environment now, at run time, as `ndc demo`'s do; bound here rather than
    # taken from `defs`, whose EnvVar fields depend on what was set when another test imported it.
    return defs.resolve_job_def("nightly_sync").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "warehouse": WarehouseResource(),
            "pseudonym_key": PseudonymKeyResource(key="test-key-of-the-s3-end-to-end-tests-0123456789"),
        },
        raise_on_error=False,
        run_config=full_refresh_config(),
    )


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{e.step_key}: {e.event_specific_data.error.message}"
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]


def ndc(*args: str) -> str:
    from orchestration.cli import main

    outcome = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


def ndc_tables() -> dict[str, dict]:
    return {entry["name"]: entry for entry in json.loads(ndc("tables", "--json"))}


def duckdb_counts(settings: StorageSettings, uris: Mapping[str, str]) -> dict[str, int]:
    """Row counts read by DuckDB's own delta extension, not by our Warehouse class."""
    con = duckdb.connect()
    try:
        settings.duckdb_setup(con)
        return {
            name: con.execute("SELECT count(*) FROM delta_scan(?)", [uri]).fetchone()[0]
            for name, uri in uris.items()
        }
    finally:
        con.close()


def expected_tables() -> set[str]:
    names = {str(LOADS), "gold.people.citizen_360", "gold.kpi.linkage_by_province"}
    for ref in load_catalogue().tables:
        load = LoadNames.of(ref)
        names |= {str(load.bronze), str(load.silver), str(load.quarantine)}
    return names


def silver_rows(listed: Mapping[str, dict]) -> dict[str, int]:
    return {name: entry["rows"] for name, entry in listed.items() if name.startswith("silver.")}


def data_docs_links(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    links = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.path[0] == "silver" and "data_docs" in materialization.metadata:
            links[".".join(materialization.asset_key.path)] = materialization.metadata["data_docs"].value
    return links


# -- on S3 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_demo(seaweedfs: StorageSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("s3demo")
    bucket, _ = split_s3_uri(seaweedfs.warehouse_uri)
    warehouse_uri = f"s3://{bucket}/warehouse"
    env = {
        **demo_environment(root, warehouse_uri),
        "NDC_S3_ENDPOINT": seaweedfs.endpoint_url,
        "AWS_REGION": seaweedfs.region,
        "AWS_DEFAULT_REGION": None,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key_id,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_access_key,
    }
    with environment(env):
        generate(root / "demo", citizens=S3_CITIZENS, seed=11)
        yield warehouse_uri


@pytest.fixture(scope="module")
def s3_run(s3_demo: str) -> dg.ExecuteInProcessResult:
    result = run_nightly_sync()
    assert result.success, failures(result)
    return result


@pytest.fixture(scope="module")
def s3_listed(s3_run: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """`ndc tables --json` after the first run."""
    return ndc_tables()


def test_job_lands_every_table_on_s3(s3_demo, s3_listed):
    listed = s3_listed
    assert expected_tables() <= set(listed)
    assert all(entry["uri"].startswith(f"{s3_demo}/") for entry in listed.values())
    assert [info.name for info in warehouse_tables()] == list(listed)
    assert all(rows > 0 for rows in silver_rows(listed).values())


def test_duckdb_reads_exactly_the_rows_ndc_tables_reports_on_s3(s3_listed):
    listed = s3_listed
    read = duckdb_counts(StorageSettings.from_env(), {name: e["uri"] for name, e in listed.items()})
    assert read == {name: entry["rows"] for name, entry in listed.items()}


def test_ndc_sql_counts_citizens_on_s3(s3_listed):
    listed = s3_listed
    output = ndc(
        "sql",
        "SELECT count(*) AS n FROM silver.population.citizens",
        "--format",
        "json",
        "--role",
        "restricted",
    )
    assert json.loads(output) == [{"n": listed["silver.population.citizens"]["rows"]}]
    # Quoted parts and two tables in one query: every view the query names is there.
    both = ndc(
        "sql",
        'SELECT (SELECT count(*) FROM "silver"."population"."citizens") AS silver, '
        "(SELECT count(*) FROM gold.people.citizen_360) AS gold",
        "--format",
        "json",
        "--role",
        "restricted",
    )
    assert json.loads(both) == [
        {
            "silver": listed["silver.population.citizens"]["rows"],
            "gold": listed["gold.people.citizen_360"]["rows"],
        }
    ]


def test_silver_links_to_data_docs_in_the_bucket(s3_demo, s3_run):
    links = data_docs_links(s3_run)
    assert len(links) == len(load_catalogue().tables)
    citizens = links["silver.population.citizens"]
    # An http link that `ndc docs serve` answers from the bucket (a browser follows no s3:// link).
    assert citizens.startswith(f"{docs_base_url()}/{s3_run.run_id}/population.citizens/")
    page = unquote(urlparse(citizens).path).lstrip("/")
    settings = StorageSettings.from_env()
    objects = ObjectStore.of(settings)
    stored = f"{s3_demo}/docs/data_docs/validations/{s3_run.run_id}/population.citizens.json"
    assert json.loads(objects.read_bytes(stored))["suite_name"] == "citizen"  # what the load wrote
    # What `ndc docs serve` does on the link's first request: render from the result, keep the pages.
    assert "citizen" in (DocsStore(data_docs_root(settings), settings).page(page) or b"").decode()
    assert "citizen" in objects.read_bytes(f"{s3_demo}/docs/data_docs/{page}").decode()


def test_rerun_leaves_silver_unchanged_on_s3(s3_listed):
    before = silver_rows(s3_listed)
    second = run_nightly_sync()
    assert second.success, failures(second)
    after = ndc_tables()
    assert silver_rows(after) == before
    read = duckdb_counts(StorageSettings.from_env(), {name: e["uri"] for name, e in after.items()})
    assert read == {name: entry["rows"] for name, entry in after.items()}


def test_s3a_roots_and_gold_in_its_own_bucket(seaweedfs):
    """Discovery, `info` and SQL views agree however the roots are spelt: s3a://, a bucket root."""
    raw_bucket, _ = split_s3_uri(seaweedfs.warehouse_uri)
    gold_bucket, _ = split_s3_uri(seaweedfs.gold_uri or "")
    settings = replace(
        seaweedfs, warehouse_uri=f"s3a://{raw_bucket}/layouts", gold_uri=f"s3a://{gold_bucket}"
    )
    warehouse = Warehouse(settings)
    warehouse.replace_run(TableName("silver", "d", "t"), pa.table({"x": [1, 2, 3]}), "run-1")
    warehouse.overwrite(TableName("gold", "d", "g"), pa.table({"x": [1, 2]}))

    infos = {info.name: info for info in warehouse_tables(settings)}
    assert {name: info.rows for name, info in infos.items()} == {"silver.d.t": 3, "gold.d.g": 2}
    assert infos["gold.d.g"].uri == f"s3a://{gold_bucket}/d/g"
    both = run_sql(
        "SELECT (SELECT sum(x) FROM silver.d.t) AS s, (SELECT sum(x) FROM gold.d.g) AS g",
        settings,
        "restricted",
    )
    assert both.frame.row(0) == (6, 3)


def test_sql_names_are_found_quoted_or_not():
    names = [TableName("silver", "population", "citizens"), TableName("gold", "kpi", "linkage")]
    assert tables_named_in("select 1", names) == []
    assert tables_named_in("FROM Silver . population.CITIZENS", names) == names[:1]
    assert (
        tables_named_in('WITH a AS (SELECT 1 AS x) FROM a JOIN "gold"."kpi"."linkage" USING (x)', names)
        == names[1:]
    )
    assert tables_named_in("FROM x.silver.population.citizens", names) == []


# -- on a local folder ------------------------------------------------------------------------


def test_duckdb_reads_exactly_the_rows_ndc_tables_reports_locally(tmp_path):
    with environment(demo_environment(tmp_path, str(tmp_path / "warehouse"))):
        generate(tmp_path / "demo", citizens=LOCAL_CITIZENS, seed=5)
        result = run_nightly_sync()
        assert result.success, failures(result)

        listed = ndc_tables()
        assert expected_tables() <= set(listed)
        read = duckdb_counts(StorageSettings.from_env(), {name: e["uri"] for name, e in listed.items()})
        assert read == {name: entry["rows"] for name, entry in listed.items()}
        output = ndc(
            "sql",
            "SELECT count(*) AS n FROM silver.population.citizens",
            "--format",
            "json",
            "--role",
            "restricted",
        )
        assert json.loads(output) == [{"n": listed["silver.population.citizens"]["rows"]}]

        link = data_docs_links(result)["silver.population.citizens"]
        page = unquote(urlparse(link).path).lstrip("/")
        docs = tmp_path / "data_docs" / page
        assert docs.is_relative_to(tmp_path / "data_docs" / result.run_id) and not docs.exists()
        settings = StorageSettings.from_env()
        assert "citizen" in (DocsStore(data_docs_root(settings), settings).page(page) or b"").decode()
        assert "citizen" in docs.read_text()  # rendered on read, kept beside the result
