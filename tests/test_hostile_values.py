"""Hostile cell values (issue 11, defect 10): a formula or a control character as a key is
quarantined with its reason, a NUL byte never lands in a name, and the row count still balances."""

from __future__ import annotations

import datetime as dt

from pipeline.judge import KEY_UNSAFE
from pipeline.load import load_table
from pipeline.names import LoadNames
from tests.fixtures.drops import HEADER, drop_ref, settled
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse


def test_formula_keys_are_quarantined_and_nul_bytes_never_land(tmp_path, monkeypatch):
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    rows = [
        'KT000001,15/08/2026,,Nguyễn Văn An,10/08/2026,01\n',
        '"=HYPERLINK(""http://evil.example"",""xem"")",15/08/2026,,Trần Thị Bình,10/08/2026,01\n',
        '@SUM(A1:A9),15/08/2026,,Lê Văn Cường,10/08/2026,01\n',
        'KT000004,15/08/2026,,Phạm\x00 Thị Dung,10/08/2026,01\n',
    ]
    (folder / "2026-08.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    settled(folder)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = drop_ref(tmp_path / "drops", monkeypatch)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))

    report = load_table(ref, warehouse, run_id="run-1", today=dt.date(2026, 12, 1))

    assert report.balanced and (report.extracted, report.landed, report.quarantined) == (4, 2, 2)
    assert report.rule_counts[KEY_UNSAFE] == 2
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert sorted(silver["full_name"]) == ["Nguyễn Văn An", "Phạm Thị Dung"]
    quarantine = warehouse.read(LoadNames.of(ref).quarantine)
    assert sorted(quarantine["so_dang_ky"]) == ["=HYPERLINK(\"http://evil.example\",\"xem\")", "@SUM(A1:A9)"]
    assert all(KEY_UNSAFE in rules for rules in quarantine["_rules"].to_list())
