"""File drops: each file loaded once, a malformed file quarantined whole, the sensor's cursor."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from catalogue import load_catalogue
from catalogue.loader import TableRef
from catalogue.models import Connection
from orchestration.sensors import file_drop_sensor
from pipeline.load import LOADS, LoadNames, load_table
from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

HEADER = "so_dang_ky,ngay_dang_ky,so_dinh_danh,ho_ten,ngay_mat,ma_tinh_dang_ky\n"


def deaths_csv(first: int, count: int, month: str) -> str:
    rows = [
        f"KT{i:06d},15/{month[5:]}/{month[:4]},,Nguyễn Văn An {i},10/{month[5:]}/{month[:4]},01"
        for i in range(first, first + count)
    ]
    return HEADER + "\n".join(rows) + "\n"


@pytest.fixture
def drop(tmp_path, monkeypatch):
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    (folder / "2026-08.csv").write_text(deaths_csv(0, 5, "2026-08"), encoding="utf-8")
    (folder / "2026-09.csv").write_text(
        HEADER + "KT900001,15/09/2026\nthis,line,has,far,too,many,fields,here\n"
    )
    (folder / "2026-10.csv").write_text(deaths_csv(100, 3, "2026-10"), encoding="utf-8")
    monkeypatch.setenv("NDC_TEST_DROPS", str(tmp_path / "drops"))
    shipped = load_catalogue().table("civil_status.deaths")
    source = shipped.source.model_copy(
        update={"connection": Connection(kind="csv_folder", path="${NDC_TEST_DROPS}")}
    )
    ref = TableRef(source, shipped.table, shipped.entity)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    return folder, ref, warehouse


def load(ref, warehouse, n):
    return load_table(ref, warehouse, run_id=f"run-{n}", today=dt.date(2026, 12, 1))


def test_malformed_file_is_quarantined_whole_and_the_others_load(drop):
    folder, ref, warehouse = drop
    report = load(ref, warehouse, 1)
    assert report.extracted == 8 and report.balanced
    assert report.files_quarantined == 1
    files = warehouse.read(TableName("quarantine", "civil_status", "deaths__files"))
    assert files["file"].to_list() == ["2026-09.csv"]
    assert files["content"][0] == (folder / "2026-09.csv").read_bytes()  # nothing lost
    assert "column" in files["reason"][0].lower()
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert sorted(silver["source_file"].unique()) == ["2026-08", "2026-10"]
    loads = warehouse.read(LOADS)
    assert loads["files_quarantined"].to_list() == [1]


def test_each_file_is_loaded_once(drop):
    folder, ref, warehouse = drop
    load(ref, warehouse, 1)
    assert load(ref, warehouse, 2).extracted == 0  # nothing new
    (folder / "2026-11.csv").write_text(deaths_csv(200, 4, "2026-11"), encoding="utf-8")
    third = load(ref, warehouse, 3)
    assert third.extracted == 4 and third.watermark_from == third.watermark_to == "2026-11"
    assert warehouse.read(LoadNames.of(ref).silver).height == 12


def test_sensor_requests_new_files_once_and_keeps_a_cursor(drop):
    folder, ref, _ = drop
    sensor = file_drop_sensor(ref)
    first = sensor(dg.build_sensor_context(cursor=None))
    assert [r.run_key for r in first.run_requests] == ["civil_status.deaths:2026-10"]
    assert first.cursor == "2026-10"
    again = sensor(dg.build_sensor_context(cursor=first.cursor))  # a restart resumes from the stored cursor
    assert isinstance(again, dg.SkipReason)
    (folder / "2026-11.csv").write_text(deaths_csv(200, 1, "2026-11"), encoding="utf-8")
    later = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert [r.run_key for r in later.run_requests] == ["civil_status.deaths:2026-11"]
    assert pl.Series(["2026-11.csv"]).to_list() == later.run_requests[0].tags["ndc/files"].split(",")
