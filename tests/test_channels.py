"""One ministry, one table, two channels: a PostgreSQL table and provincial CSV drops, each with its
own column mapping, landing in one silver table under one version order. A record present in both
lands once; a later file re-sending an older version is superseded; each channel has its load record."""

from __future__ import annotations

import copy
import datetime as dt
import os
import time
from pathlib import Path

import polars as pl
import pytest

from catalogue import CATALOGUE_DIR, CatalogueError, Source, load_catalogue
from catalogue.loader import TableRef
from normalise.admin import admin_tables
from pipeline.channels import combined
from pipeline.drops import DropOutcome
from pipeline.load import load_table
from pipeline.load_report import LoadReport, from_drop
from pipeline.names import LoadNames
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

TODAY = dt.date(2026, 11, 1)
DROP_HEADER = "MA_DT,SO_DINH_DANH,HO_TEN,NGAY_SINH,GIOI_TINH,LOAI_TRO_CAP,MA_XA,NGAY_CAP_NHAT\n"
DROP_COLUMNS = [  # the provinces' spreadsheet: other names, ISO dates
    {"source": "MA_DT", "to": "beneficiary_id", "parse": "text", "pii": "none"},
    {"source": "SO_DINH_DANH", "to": "personal_id", "parse": "personal_id", "pii": "basic"},
    {"source": "HO_TEN", "to": "full_name", "parse": "name", "pii": "basic"},
    {"source": "HO_TEN", "to": "name_key", "parse": "name_key", "pii": "basic"},
    {"source": "NGAY_SINH", "to": "date_of_birth", "parse": "date", "options": {"format": "%Y-%m-%d"}, "pii": "basic"},
    {"source": "GIOI_TINH", "to": "sex", "parse": "sex", "pii": "basic"},
    {"source": "LOAI_TRO_CAP", "to": "benefit_type", "parse": "text", "pii": "sensitive"},
    {"source": "MA_XA", "to": "ward_legacy", "parse": "ward_code", "pii": "basic"},
    {"source": "MA_XA", "to": "ward_2025", "parse": "ward_2025", "pii": "basic"},
    {"source": "NGAY_CAP_NHAT", "to": "updated_at", "parse": "datetime", "pii": "none"},
]


def ward() -> str:
    """A legacy ward that went whole into one 2025 ward (so both ward rules pass)."""
    return next(code for code, new in sorted(admin_tables().ward_candidates.items()) if len(new) == 1)


def source_document(table_name: str | None = None) -> dict:
    """The shipped welfare beneficiaries (PostgreSQL) plus a `provinces` channel of CSV drops, as YAML data."""
    import yaml

    shipped = yaml.safe_load((CATALOGUE_DIR / "sources" / "welfare.yml").read_text(encoding="utf-8"))
    table = next(t for t in shipped["tables"] if t["name"] == "beneficiaries") | {
        "table": table_name or "doi_tuong",
        "deletes": "none",  # a key missing from one channel may come by the other
        "version_column": "ngay_cap_nhat",
        "channels": [{
            "name": "provinces",
            "connection": {"kind": "csv_folder", "path": "${NDC_TEST_CHANNEL_DROPS}", "settle_s": 0},
            "table": "bao_cao",
            "watermark": "_file",
            "version_column": "NGAY_CAP_NHAT",
            "columns": copy.deepcopy(DROP_COLUMNS),  # a test may edit its copy
        }],
    }
    return shipped | {"connection": {"kind": "postgres", "url": "${NDC_TEST_WELFARE_URL}"}, "tables": [table]}


def beneficiaries(table_name: str | None = None) -> TableRef:
    source = Source.model_validate(source_document(table_name))
    return TableRef(source, source.tables[0], load_catalogue().entities["welfare_beneficiary"])


def sql_row(key: str, name: str, updated: str) -> dict[str, object]:
    return {"ma_doi_tuong": key, "so_dinh_danh": "001090000001", "ho_ten": name, "ngay_sinh": "17/05/1990",
            "gioi_tinh": "Nam", "loai_tro_cap": "BTXH", "ma_xa": ward(), "so_dien_thoai": None,
            "ngay_cap_nhat": updated}


def drop(folder: Path, file: str, *rows: tuple[str, str, str]) -> None:
    lines = [f"{key},001090000001,{name},1990-05-17,Nam,BTXH,{ward()},{updated}\n" for key, name, updated in rows]
    (folder / file).write_text(DROP_HEADER + "".join(lines), encoding="utf-8")
    stamp = time.time() - 300
    os.utime(folder / file, (stamp, stamp))


def test_channels_share_one_version_order_and_cannot_reconcile():
    ref = beneficiaries()
    assert [channel.table.name for channel in ref.channel_refs()] == ["beneficiaries", "beneficiaries__provinces"]
    assert {LoadNames.of(channel).silver.table for channel in ref.channel_refs()} == {"beneficiaries"}
    assert LoadNames.of(ref.channel_refs()[1]).bronze.table == "beneficiaries__provinces"
    document = source_document()
    table = document["tables"][0]
    for change, message in [
        ({"deletes": "reconcile"}, "cannot reconcile"),
        ({"version_column": None}, "needs version_column"),
        ({"channels": [{**table["channels"][0], "version_column": "MA_DT"}]}, "mapped to 'updated_at'"),
    ]:
        with pytest.raises(ValueError, match=message):
            Source.model_validate(document | {"tables": [table | change]})


def test_a_channel_mapping_is_checked_like_a_table(tmp_path):
    import shutil

    import yaml

    root = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR / "entities", root / "entities")
    (root / "sources").mkdir()
    document = source_document()
    document["tables"][0]["channels"][0]["columns"][2]["to"] = "ful_name"
    (root / "sources" / "welfare.yml").write_text(yaml.safe_dump(document, allow_unicode=True))
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(root)
    assert any("channels[0] ('provinces')" in p and "'ful_name' is not a column" in p for p in raised.value.problems)


@pytest.mark.slow  # starts PostgreSQL
def test_the_tables_report_keeps_the_files_and_sheets_every_channel_left_unread():
    """The channels' reports as one (what the Dagster asset shows): the files waiting or not
    regular and the workbook sheets a later channel left unread are kept, not only the first
    channel's."""
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    def report(table: str, drop: DropOutcome | None) -> LoadReport:
        counts = dict.fromkeys(("extracted", "landed", "quarantined", "deduplicated", "warned", "linked",
                                "ambiguous", "deleted", "files_quarantined"), 0)
        return LoadReport(
            run_id="run-1", source="welfare", table=table, entity="welfare_beneficiary", **counts,
            rule_counts={}, watermark_from=None, watermark_to=None, bronze_version=None, silver_version=None,
            quarantine_version=None, started_at=now, finished_at=now, **from_drop(drop),
        )

    provinces = DropOutcome(waiting=2, not_regular=1, sheets_left=["2026-10.xlsx: Sheet2"])
    database, drops = report("beneficiaries", None), report("beneficiaries__provinces", provinces)
    table = combined([database, drops])
    assert table.sheets_left == ["2026-10.xlsx: Sheet2"]
    assert (table.files_waiting, table.files_not_regular) == (2, 1)


def test_a_ministry_fed_by_postgresql_and_csv_drops_lands_each_record_once(
    postgres_server, tmp_path, monkeypatch
):
    table_name = f"doi_tuong_{os.getpid()}_{tmp_path.name[-6:]}".lower().replace("-", "_")
    postgres_server.load_table(table_name, [
        sql_row("DT1", "Nguyễn Văn An", "2026-10-01 08:00:00"),
        sql_row("DT2", "Trần Văn Bình", "2026-10-01 09:00:00"),
    ])
    folder = tmp_path / "drops" / "bao_cao"
    folder.mkdir(parents=True)
    drop(folder, "2026-10.csv",
         ("DT2", "Trần Văn Bình", "2026-10-01 09:00:00"),  # the same record, by the other channel
         ("DT3", "Lê Văn Cường", "2026-10-02 10:00:00"))  # a province not yet connected
    monkeypatch.setenv("NDC_TEST_WELFARE_URL", postgres_server.url)
    monkeypatch.setenv("NDC_TEST_CHANNEL_DROPS", str(tmp_path / "drops"))
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = beneficiaries(table_name)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))

    first = load_table(ref, warehouse, run_id="run-1", today=TODAY)
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert sorted(silver["beneficiary_id"]) == ["DT1", "DT2", "DT3"]  # DT2 once
    assert (first.extracted, first.landed, first.deduplicated, first.quarantined) == (4, 3, 1, 0)
    assert first.balanced
    records = warehouse.read(LOADS).sort("table")
    assert records.select("table", "extracted", "landed", "deduplicated").rows() == [
        ("beneficiaries", 2, 2, 0), ("beneficiaries__provinces", 2, 1, 1)]

    # A later file re-sends DT1's older version: the database's newer one stays.
    drop(folder, "2026-11.csv", ("DT1", "Nguyễn Văn Cũ", "2026-09-01 08:00:00"))
    second = load_table(ref, warehouse, run_id="run-2", today=TODAY)
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert dict(zip(silver["beneficiary_id"], silver["full_name"], strict=True))["DT1"] == "Nguyễn Văn An"
    assert second.rule_counts.get("superseded") == 1 and second.balanced
    loads = warehouse.read(LOADS)
    assert loads["balanced"].all()
    assert loads.filter(pl.col("table") == "beneficiaries__provinces")["quarantined"].sum() == 1
