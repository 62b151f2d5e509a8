"""Acceptance: a night in which ministries deleted rows, on real PostgreSQL with the SHIPPED catalogue.

The demo ministries are loaded into PostgreSQL and synced in full (as `ndc demo --backend postgres`
does); then the population register deletes citizens and updates others, and social welfare deletes
beneficiaries (a night with nothing else: the load has no new rows, only deletions). The normal
nightly sync (from the high-water mark, not a full refresh) must tombstone every deleted key in silver
(`_deleted`, history kept) and leave it out of gold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from assets.nightly import TIMEZONE, WATERMARK_FORMAT
from demo.backends import SOURCES, load_demo_into, url_variable
from demo.generator import generate
from orchestration.runs import full_refresh_config
from pipeline.gold import pseudonymise
from pipeline.link import PERSON_ID
from pipeline.names import DELETED, DELETED_AT
from tests.fixtures.servers import DatabaseServer
from tests.test_demo_backends import environment, server_demo_dir
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

pytestmark = pytest.mark.slow

CITIZENS = 3_000
PSEUDONYM_KEY = "test-key-of-the-deletes-tests-0123456789-abcdef"
CITIZENS_SILVER = TableName("silver", "population", "citizens")
BENEFICIARIES_SILVER = TableName("silver", "welfare", "beneficiaries")
CITIZEN_360 = TableName("gold", "people", "citizen_360")
KPIS = TableName("gold", "kpi", "linkage_by_province")


@dataclass(frozen=True)
class Synced:
    demo_dir: Path
    warehouse_dir: Path
    urls: dict[str, str]
    server: DatabaseServer


def nightly_sync(synced: Synced, *, full_refresh: bool) -> dg.ExecuteInProcessResult:
    """nightly_sync in-process from each table's high-water mark; the first run reads everything (as the demo)."""
    env = {
        "NDC_DEMO_DIR": str(synced.demo_dir),
        "NDC_WAREHOUSE_URI": str(synced.warehouse_dir),
        "NDC_PSEUDONYM_KEY": PSEUDONYM_KEY,
        **{url_variable(source): synced.urls[url_variable(source)] for source in SOURCES},
    }
    with environment(env):
        from orchestration.definitions import defs

        result = defs.resolve_job_def("nightly_sync").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            run_config=full_refresh_config() if full_refresh else None,
        )
    assert result.success
    return result


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, postgres_server: DatabaseServer) -> Iterator[Synced]:
    root = tmp_path_factory.mktemp("deletes")
    generate(root / "demo", citizens=CITIZENS, seed=31)
    assert postgres_server.local is not None
    urls = load_demo_into("postgres", root / "demo", postgres_server.local)
    synced = Synced(server_demo_dir(root, "postgres"), root / "warehouse", urls, postgres_server)
    nightly_sync(synced, full_refresh=True)
    yield synced


def execute(server: DatabaseServer, database: str, sql: str, params: tuple = ()) -> list[tuple]:
    assert server.local is not None
    with server.local.admin_connect(database) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def live(warehouse: Warehouse, name: TableName) -> pl.DataFrame:
    return warehouse.read(name).filter(~pl.col(DELETED).fill_null(False))


def test_the_nightly_sync_tombstones_deleted_keys_in_silver_and_gold_forgets_them(synced: Synced) -> None:
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(synced.warehouse_dir)))
    citizens_before = live(warehouse, CITIZENS_SILVER)
    gold_before = warehouse.read(CITIZEN_360)
    assert gold_before.height == citizens_before[PERSON_ID].drop_nulls().n_unique()

    # The night at the ministries: clean, linked citizens deleted (IDs as written at the source),
    # others updated yesterday; welfare deletes beneficiaries and nothing else.
    linked = citizens_before.filter(pl.col(PERSON_ID).is_not_null()).sort("personal_id")
    source_ids = {row[0] for row in execute(synced.server, "population", "SELECT so_dinh_danh FROM cong_dan")}
    deletable = [pid for pid in linked["personal_id"] if pid in source_ids]
    deleted_citizens, updated_citizens = deletable[:25], deletable[25:40]
    execute(
        synced.server, "population", "DELETE FROM cong_dan WHERE so_dinh_danh = ANY(%s)", (deleted_citizens,)
    )
    yesterday = dt.datetime.now(ZoneInfo(TIMEZONE)) - dt.timedelta(days=1)
    stamp = yesterday.replace(hour=10, minute=0, second=0).strftime(WATERMARK_FORMAT)
    execute(
        synced.server,
        "population",
        "UPDATE cong_dan SET so_dien_thoai = '0912345678', ngay_cap_nhat = %s WHERE so_dinh_danh = ANY(%s)",
        (stamp, updated_citizens),
    )
    beneficiaries_before = live(warehouse, BENEFICIARIES_SILVER)
    welfare_ids = {row[0] for row in execute(synced.server, "welfare", "SELECT ma_doi_tuong FROM doi_tuong")}
    deleted_beneficiaries = sorted(set(beneficiaries_before["beneficiary_id"]) & welfare_ids)[:10]
    execute(
        synced.server,
        "welfare",
        "DELETE FROM doi_tuong WHERE ma_doi_tuong = ANY(%s)",
        (deleted_beneficiaries,),
    )
    assert len(deleted_citizens) == 25 and len(updated_citizens) == 15 and len(deleted_beneficiaries) == 10

    result = nightly_sync(synced, full_refresh=False)

    loads = warehouse.read(LOADS).filter(pl.col("_run_id") == result.run_id)
    by_table = {(r["source"], r["table"]): r for r in loads.iter_rows(named=True)}
    citizens_load = by_table[("population", "citizens")]
    assert citizens_load["deleted"] == 25 and citizens_load["extracted"] < CITIZENS  # incremental, not full
    assert citizens_load["landed"] >= 15
    assert by_table[("welfare", "beneficiaries")]["deleted"] == 10
    assert loads["balanced"].all()

    # Silver: the deleted keys are tombstones (history kept), everything else is live and updated.
    citizens = warehouse.read(CITIZENS_SILVER)
    tombstones = citizens.filter(pl.col(DELETED).fill_null(False))
    assert sorted(tombstones["personal_id"]) == sorted(deleted_citizens)
    assert tombstones[DELETED_AT].null_count() == 0
    assert citizens.height == citizens_before.height  # nothing removed: deletes are history
    updated = live(warehouse, CITIZENS_SILVER).filter(pl.col("personal_id").is_in(updated_citizens))
    assert updated.height == 15 and (updated["phone"] == "+84912345678").all()
    beneficiaries = warehouse.read(BENEFICIARIES_SILVER).filter(pl.col(DELETED).fill_null(False))
    assert sorted(beneficiaries["beneficiary_id"]) == deleted_beneficiaries

    # Gold: the deleted citizens are gone; nobody else is.
    deleted_people = citizens_before.filter(pl.col("personal_id").is_in(deleted_citizens))[PERSON_ID]
    pseudonyms = pl.select(pseudonymise(pl.lit(deleted_people), PSEUDONYM_KEY.encode())).to_series()
    gold = warehouse.read(CITIZEN_360)
    assert gold.height == gold_before.height - 25
    assert not gold["person_pseudonym"].is_in(pseudonyms.implode()).any()
    kpis = warehouse.read(KPIS)
    landed = kpis.filter((pl.col("source") == "population") & (pl.col("table") == "citizens"))["rows_landed"]
    assert landed.sum() == citizens_before.height - 25
    welfare_landed = kpis.filter((pl.col("source") == "welfare") & (pl.col("table") == "beneficiaries"))
    assert welfare_landed["rows_landed"].sum() == beneficiaries_before.height - 10
