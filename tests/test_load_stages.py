"""Where a load's time goes (pipeline/stages.py), and the knobs the benchmark uses to price a stage:
`validate=False` and `link=False` on load_table."""

from __future__ import annotations

import datetime as dt
import time

from pipeline.link import LINK_METHOD
from pipeline.load import load_table
from pipeline.names import LoadNames
from pipeline.stages import STAGES, StageClock
from tests.test_file_drops import HEADER, drop_ref, settled
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

ROWS = [
    "KT000001,15/08/2026,,Nguyễn Văn An,10/08/2026,01\n",
    "KT000002,31/02/2026,,Trần Thị Bình,10/08/2026,01\n",  # no such date: breaks a rule
    "KT000003,15/08/2026,,Lê Văn Cường,10/08/2026,01\n",
]


def test_pulled_time_counts_for_the_producer_not_the_consumer():
    clock = StageClock()

    def slow() -> object:
        for item in range(3):
            time.sleep(0.02)
            yield item

    with clock.stage("bronze_write"):
        assert list(clock.pulling("extract", slow(), within="bronze_write")) == [0, 1, 2]
    seconds = clock.report()
    assert seconds["extract"] >= 0.06
    assert seconds["bronze_write"] < seconds["extract"]  # the sleeps were not counted twice
    assert list(seconds) == ["extract", "bronze_write"]  # pipeline order


def _load(tmp_path, monkeypatch, run: str, **knobs):
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-08.csv").write_text(HEADER + "".join(ROWS), encoding="utf-8")
    settled(folder)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = drop_ref(tmp_path / "drops", monkeypatch)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / f"warehouse-{run}")))
    return ref, warehouse, load_table(ref, warehouse, run_id=run, today=dt.date(2026, 12, 1), **knobs)


def test_a_load_reports_the_seconds_of_each_stage(tmp_path, monkeypatch):
    _, _, report = _load(tmp_path, monkeypatch, "run-1")
    assert report.balanced and report.quarantined == 1
    wanted = {"extract", "bronze_write", "duplicates", "bronze_read", "normalise", "link", "validate",
              "stage", "quarantine_write", "merge", "bookkeeping"}
    assert wanted <= set(report.stages)
    assert all(seconds >= 0 for seconds in report.stages.values())
    assert [s for s in STAGES if s in report.stages] == [s for s in report.stages if s in STAGES]


def test_validation_and_linking_can_be_left_out_for_measuring(tmp_path, monkeypatch):
    ref, warehouse, report = _load(tmp_path, monkeypatch, "run-2", validate=False, link=False)
    assert report.balanced and (report.landed, report.quarantined) == (3, 0)  # the bad date landed
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert silver[LINK_METHOD].null_count() == silver.height == 3
