"""Version order is a declared column of the record, not the order files arrive in: a province
re-sending an older version of a record in a later file must not replace the newer one, within one
load or across loads; the stale version is quarantined as `superseded`, and every load balances."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from catalogue import load_catalogue
from catalogue.loader import TableRef
from catalogue.models import Connection
from pipeline.load import load_table
from pipeline.names import LoadNames
from pipeline.versions import version_order
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

HEADER = "so_dang_ky,ngay_dang_ky,so_dinh_danh,ho_ten,ngay_mat,ma_tinh_dang_ky\n"


def row(number: str, registered: str, name: str) -> str:
    return f"{number},{registered},,{name},10/08/2026,01\n"


def drop(folder: Path, name: str, *rows: str) -> None:
    path = folder / name
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    stamp = time.time() - 300  # past the settle interval: ready to read
    os.utime(path, (stamp, stamp))


def deaths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, versioned: bool) -> tuple[TableRef, Path, Warehouse]:
    """The shipped deaths drop; with `versioned`, its registration date is the version order."""
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    monkeypatch.setenv("NDC_TEST_DROPS", str(tmp_path / "drops"))
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    shipped = load_catalogue().table("civil_status.deaths")
    source = shipped.source.model_copy(
        update={"connection": Connection(kind="csv_folder", path="${NDC_TEST_DROPS}")}
    )
    table = shipped.table.model_copy(update={"version_column": "ngay_dang_ky" if versioned else None})
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    return TableRef(source, table, shipped.entity), folder, warehouse


def load(ref: TableRef, warehouse: Warehouse, n: int):
    return load_table(ref, warehouse, run_id=f"run-{n}", today=dt.date(2026, 12, 1))


def silver_names(ref: TableRef, warehouse: Warehouse) -> dict[str, str]:
    silver = warehouse.read(LoadNames.of(ref).silver)
    return dict(zip(silver["registration_no"], silver["full_name"], strict=True))


def assert_balanced(warehouse: Warehouse, sent: int) -> None:
    loads = warehouse.read(LOADS)
    assert loads["balanced"].all()
    assert loads["extracted"].sum() == sent
    assert loads["extracted"].sum() == loads["landed"].sum() + loads["quarantined"].sum() + loads["deduplicated"].sum()


def test_the_version_column_orders_versions_not_the_file_cursor():
    shipped = load_catalogue().table("civil_status.deaths").table
    assert version_order(shipped) == "source_file"  # undeclared: the cursor, as before
    declared = shipped.model_copy(update={"version_column": "ngay_dang_ky"})
    assert version_order(declared) == "registered_on"


def test_an_older_version_in_a_later_file_of_the_same_load_is_superseded(tmp_path, monkeypatch):
    ref, folder, warehouse = deaths(tmp_path, monkeypatch, versioned=True)
    drop(folder, "2026-08.csv", row("KT1", "20/08/2026", "Nguyễn Văn Mới"), row("KT2", "01/08/2026", "Lê Thị Hai"))
    drop(folder, "2026-09.csv", row("KT1", "15/08/2026", "Nguyễn Văn Cũ"))  # re-sends KT1's older version
    report = load(ref, warehouse, 1)
    assert silver_names(ref, warehouse) == {"KT1": "Nguyễn Văn Mới", "KT2": "Lê Thị Hai"}
    assert (report.landed, report.quarantined, report.rule_counts.get("superseded")) == (2, 1, 1)
    quarantined = warehouse.read(LoadNames.of(ref).quarantine)
    assert quarantined["ho_ten"].to_list() == ["Nguyễn Văn Cũ"]
    assert quarantined["_rules"].to_list() == [["superseded"]]
    assert_balanced(warehouse, sent=3)


def test_without_a_version_column_the_later_file_wins_as_before(tmp_path, monkeypatch):
    ref, folder, warehouse = deaths(tmp_path, monkeypatch, versioned=False)
    drop(folder, "2026-08.csv", row("KT1", "20/08/2026", "Nguyễn Văn Mới"))
    drop(folder, "2026-09.csv", row("KT1", "15/08/2026", "Nguyễn Văn Cũ"))
    load(ref, warehouse, 1)
    assert silver_names(ref, warehouse) == {"KT1": "Nguyễn Văn Cũ"}


def test_an_older_version_arriving_in_a_later_load_does_not_overwrite_silver(tmp_path, monkeypatch):
    ref, folder, warehouse = deaths(tmp_path, monkeypatch, versioned=True)
    drop(folder, "2026-08.csv", row("KT1", "20/08/2026", "Nguyễn Văn Mới"), row("KT2", "01/08/2026", "Lê Thị Hai"))
    load(ref, warehouse, 1)
    drop(
        folder, "2026-09.csv",
        row("KT1", "15/08/2026", "Nguyễn Văn Cũ"),  # older than silver's: superseded
        row("KT2", "02/08/2026", "Lê Thị Hai Sửa"),  # newer than silver's: lands
    )
    second = load(ref, warehouse, 2)
    assert silver_names(ref, warehouse) == {"KT1": "Nguyễn Văn Mới", "KT2": "Lê Thị Hai Sửa"}
    assert (second.extracted, second.landed, second.quarantined) == (2, 1, 1)
    assert second.rule_counts.get("superseded") == 1
    assert_balanced(warehouse, sent=4)
