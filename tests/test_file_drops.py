"""File drops, loaded end to end on real files: each file version read exactly once, files still
being written left for later, re-sent and late files loaded, malformed files and files with another
header quarantined whole (once), symlinks never read, staging swept after a kill, the sensor.

Every load is checked for conservation: the rows sent = rows landed (each key once) + rows
quarantined + files quarantined whole, and every load record is balanced.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import write_deltalake

from assets.ministries import _materializations, load_news
from catalogue import load_catalogue
from catalogue.loader import TableRef
from catalogue.models import Connection
from connectors import ExtractRequest, open_connector
from connectors.drop_stores import NotARegularFile
from orchestration.sensors import file_drop_sensor
from pipeline.drops import FILES_READ, SHEETS_LEFT
from pipeline.load import load_table
from pipeline.names import LoadNames
from tests.fixtures.drops import FILES, HEADER, deaths_csv, deaths_rows, drop_ref, load, settled
from tests.fixtures.workbooks import write_xlsx
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse


def silver_keys(ref: TableRef, warehouse: Warehouse) -> list[str]:
    return warehouse.read(LoadNames.of(ref).silver)["registration_no"].to_list()


def assert_exact(ref: TableRef, warehouse: Warehouse, expected_keys: set[str], sent_rows: int) -> None:
    """Nothing lost, nothing duplicated: silver holds each expected key once, and every row sent
    is in a load's extracted count, split into landed + quarantined + deduplicated."""
    keys = silver_keys(ref, warehouse)
    assert sorted(keys) == sorted(expected_keys)  # each key once: nothing lost, nothing duplicated
    loads = warehouse.read(LOADS)
    assert loads["balanced"].all()
    assert loads["extracted"].sum() == (
        loads["landed"].sum() + loads["quarantined"].sum() + loads["deduplicated"].sum()
    )
    assert loads["extracted"].sum() == sent_rows  # each version's rows counted once


def quarantined_files(warehouse: Warehouse) -> pl.DataFrame:
    return warehouse.read(FILES) if warehouse.exists(FILES) else pl.DataFrame({"file": [], "reason": []})


def test_malformed_file_is_quarantined_whole_and_the_others_load(deaths_drop):
    folder, ref, warehouse = deaths_drop
    report = load(ref, warehouse, 1)
    assert report.extracted == 8 and report.balanced
    assert report.files_quarantined == 1
    files = warehouse.read(FILES)
    assert files["file"].to_list() == ["2026-09.csv"]
    assert files["content"][0] == (folder / "2026-09.csv").read_bytes()  # nothing lost
    assert "column" in files["reason"][0].lower()
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert sorted(silver["source_file"].unique()) == ["2026-08", "2026-10"]
    loads = warehouse.read(LOADS)
    assert loads["files_quarantined"].to_list() == [1]
    recorded = loads[FILES_READ][0].to_list()
    assert {(v["name"], v["quarantined"]) for v in recorded} == {
        ("2026-08.csv", False), ("2026-09.csv", True), ("2026-10.csv", False)}


def test_each_file_is_loaded_once(deaths_drop):
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    assert load(ref, warehouse, 2).extracted == 0  # nothing new
    (folder / "2026-11.csv").write_text(deaths_csv(200, 4, "2026-11"), encoding="utf-8")
    settled(folder / "2026-11.csv")
    third = load(ref, warehouse, 3)
    assert third.extracted == 4 and third.watermark_from == third.watermark_to == "2026-11"
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103), *range(200, 204)]}
    assert_exact(ref, warehouse, expected, sent_rows=12)


def test_a_malformed_file_is_quarantined_once_not_on_every_run(deaths_drop):
    """Defect 9: a malformed file newer than every good one was re-quarantined on every run."""
    _, ref, warehouse = deaths_drop
    assert load(ref, warehouse, 1).files_quarantined == 1
    for n in (2, 3):
        again = load(ref, warehouse, n)
        assert again.files_quarantined == 0 and again.extracted == 0
    assert quarantined_files(warehouse)["file"].to_list() == ["2026-09.csv"]


def shown_in_dagster(ref, warehouse, report) -> dict[str, dict]:
    """The metadata of each asset's materialisation after `report`'s load, by asset path."""
    news = load_news(report, mode="nightly", mark=None)
    return {
        "/".join(result.asset_key.path): result.metadata
        for result in _materializations(ref, LoadNames.of(ref), report, warehouse, news)
    }


def test_a_file_still_being_written_waits_until_it_is_complete(deaths_drop):
    """Defect 2: a file read while being written (cut at a line end) lost the rows after the cut."""
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    rows = deaths_rows(300, 10, "2026-11")
    growing = folder / "2026-11.csv"
    growing.write_text(HEADER + "".join(rows[:5]), encoding="utf-8")  # the writer is half-way
    waiting = load(ref, warehouse, 2)
    assert waiting.extracted == 0 and waiting.files_waiting == 1
    assert shown_in_dagster(ref, warehouse, waiting)["bronze/civil_status/deaths"]["files_waiting"] == 1
    with growing.open("a", encoding="utf-8") as handle:
        handle.write("".join(rows[5:]))
    settled(growing)  # the writer has finished; the file has not changed for the settle interval
    done = load(ref, warehouse, 3)
    assert done.extracted == 10 and done.files_waiting == 0
    assert "files_waiting" not in shown_in_dagster(ref, warehouse, done)["bronze/civil_status/deaths"]
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103), *range(300, 310)]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 10)


def test_a_writer_slower_than_the_settle_interval_still_loses_nothing(deaths_drop):
    """The settle interval is a heuristic: a writer pausing longer gets its half file read. The
    completed file is a new version (new size and time), so it is read again, whole; MERGE by
    key absorbs the first half."""
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    rows = deaths_rows(300, 10, "2026-11")
    growing = folder / "2026-11.csv"
    growing.write_text(HEADER + "".join(rows[:5]), encoding="utf-8")
    settled(growing, age_s=120)  # stalled for two minutes
    assert load(ref, warehouse, 2).extracted == 5
    with growing.open("a", encoding="utf-8") as handle:
        handle.write("".join(rows[5:]))
    settled(growing, age_s=61)
    assert load(ref, warehouse, 3).extracted == 10
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103), *range(300, 310)]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 5 + 10)


def test_a_declared_marker_says_when_a_file_is_complete(tmp_path, monkeypatch):
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = drop_ref(tmp_path / "drops", monkeypatch, complete_marker=".done")
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    data = folder / "2026-08.csv"
    data.write_text(deaths_csv(0, 4, "2026-08"), encoding="utf-8")
    settled(data, age_s=3600)  # old, but not declared complete: with a marker, age does not count
    assert load(ref, warehouse, 1).files_waiting == 1
    (folder / "2026-08.csv.done").touch()
    assert load(ref, warehouse, 2).extracted == 4
    # Re-sent: the new file is newer than the old marker, so it waits for its own marker.
    data.write_text(deaths_csv(0, 6, "2026-08"), encoding="utf-8")
    assert load(ref, warehouse, 3).files_waiting == 1
    (folder / "2026-08.csv.done").touch()
    assert load(ref, warehouse, 4).extracted == 6
    assert_exact(ref, warehouse, {f"KT{i:06d}" for i in range(6)}, sent_rows=4 + 6)


def test_a_file_re_sent_under_the_same_name_is_read_again(deaths_drop):
    """Defect 2: a corrected file re-sent under its name was never read."""
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    (folder / "2026-08.csv").write_text(deaths_csv(0, 6, "2026-08", "Trần Thị Bình"), encoding="utf-8")
    settled(folder / "2026-08.csv", age_s=100)
    resent = load(ref, warehouse, 2)
    assert resent.extracted == 6
    silver = warehouse.read(LoadNames.of(ref).silver).filter(pl.col("source_file") == "2026-08")
    assert silver["full_name"].str.starts_with("Trần Thị Bình").all()  # the corrected values won
    expected = {f"KT{i:06d}" for i in [*range(6), *range(100, 103)]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 6)


def test_a_file_touched_or_copied_again_with_the_same_content_is_not_read_again(deaths_drop):
    """A new modification time alone (touch, a sync that copies the whole folder again) is not a
    new version: the content digest recorded with each version says it was read."""
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    settled(folder, age_s=200)  # every file, the malformed one too, gets a new time
    touched = load(ref, warehouse, 2)
    assert touched.extracted == 0 and touched.files_quarantined == 0
    assert load(ref, warehouse, 3).extracted == 0  # recorded under the new time: no digest taken again
    # Same name, same size, other content: a new version.
    (folder / "2026-08.csv").write_text(deaths_csv(0, 5, "2026-08", "Nguyễn Văn Al"), encoding="utf-8")
    assert (folder / "2026-08.csv").stat().st_size == len(deaths_csv(0, 5, "2026-08").encode())
    settled(folder / "2026-08.csv", age_s=100)
    assert load(ref, warehouse, 4).extracted == 5
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103)]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 5)
    assert quarantined_files(warehouse)["file"].to_list() == ["2026-09.csv"]


def test_a_quarantined_file_re_sent_corrected_loads(deaths_drop):
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    (folder / "2026-09.csv").write_text(deaths_csv(900, 2, "2026-09"), encoding="utf-8")
    settled(folder / "2026-09.csv", age_s=100)
    assert load(ref, warehouse, 2).extracted == 2
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103), 900, 901]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 2)
    assert quarantined_files(warehouse)["file"].to_list() == ["2026-09.csv"]  # the first version, kept


def test_a_late_file_whose_name_sorts_first_is_loaded(deaths_drop):
    """Defect 2: a file named before the newest loaded one was skipped without warning."""
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    (folder / "2026-07.csv").write_text(deaths_csv(700, 3, "2026-07"), encoding="utf-8")
    settled(folder / "2026-07.csv")
    late = load(ref, warehouse, 2)
    assert late.extracted == 3 and late.watermark_to == "2026-07"
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103), *range(700, 703)]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 3)


@pytest.mark.parametrize(
    ("header", "named"),
    [
        (HEADER.strip() + ",ghi_chu\n", "extra column(s) ghi_chu"),
        (HEADER.replace(",ngay_mat", ""), "missing column(s) ngay_mat"),
    ],
)
def test_a_file_with_another_header_is_quarantined_and_the_others_load(deaths_drop, header, named):
    """Defect 3: one CSV with an extra or missing column failed the load of every file of its table."""
    folder, ref, warehouse = deaths_drop
    columns = header.count(",") + 1
    odd = folder / "2026-08b.csv"
    odd.write_text(header + "KT800001" + ",x" * (columns - 1) + "\n", encoding="utf-8")
    (folder / "2026-11.csv").write_text(deaths_csv(200, 4, "2026-11"), encoding="utf-8")
    settled(folder)
    report = load(ref, warehouse, 1)
    assert report.files_quarantined == 2  # 2026-09.csv (unparseable) and the odd header
    files = quarantined_files(warehouse).sort("file")
    assert files["file"].to_list() == ["2026-08b.csv", "2026-09.csv"]
    assert named in files["reason"][0]
    assert files["content"][0] == odd.read_bytes()
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103), *range(200, 204)]}
    assert_exact(ref, warehouse, expected, sent_rows=5 + 3 + 4)


def test_columns_in_another_order_are_the_same_header(deaths_drop):
    folder, ref, warehouse = deaths_drop
    swapped = "ho_ten,so_dang_ky,ngay_dang_ky,so_dinh_danh,ngay_mat,ma_tinh_dang_ky\n"
    (folder / "2026-11.csv").write_text(swapped + "Lê Văn C,KT500001,15/11/2026,,10/11/2026,01\n")
    settled(folder)
    assert load(ref, warehouse, 1).extracted == 9
    silver = warehouse.read(LoadNames.of(ref).silver).filter(pl.col("registration_no") == "KT500001")
    assert silver["full_name"].to_list() == ["Lê Văn C"]


def test_a_workbook_s_notes_sheet_is_left_unread_said_and_kept_in_the_load_record(tmp_path, monkeypatch):
    """A month of deaths sent as a workbook with a notes sheet beside it: the rows load, the notes
    sheet is left unread (it shares no declared column), and the load says so in its progress and
    keeps it in its record. The loads table, as an older release wrote it (no `sheets_left`),
    gains the column; its old rows hold null."""
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    (folder / "2026-08.csv").write_text(deaths_csv(0, 5, "2026-08"), encoding="utf-8")
    settled(folder)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = drop_ref(tmp_path / "drops", monkeypatch, kind="file_drop")
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    assert load(ref, warehouse, 1).sheets_left == []
    older = warehouse.read(LOADS).drop(SHEETS_LEFT).to_arrow()
    write_deltalake(warehouse.uri(LOADS), older, mode="overwrite", schema_mode="overwrite")
    assert SHEETS_LEFT not in warehouse.read(LOADS).columns

    header = HEADER.rstrip("\n").split(",")
    notes = [["ghi_chu"], ["Số liệu tháng 9, đã đối chiếu"]]
    records = [line.rstrip("\n").split(",") for line in deaths_rows(100, 3, "2026-09")]
    write_xlsx(folder / "2026-09.xlsx", records, (notes, True), header=header)
    # A notes sheet beside a month under another header: the workbook is quarantined whole for its
    # header (read_excel raises before any sheet is left), and a file not read leaves no entry.
    other = [[*header[:-1], "ma_xa"], *([*record[:-1], "00004"] for record in records)]
    write_xlsx(folder / "2026-10.xlsx", records, (notes, False), (other, False), header=header)
    settled(folder)
    said: list[str] = []
    report = load_table(ref, warehouse, run_id="run-2", today=dt.date(2026, 12, 1), progress=said.append)
    assert report.extracted == 3 and report.balanced and report.files_quarantined == 1
    assert quarantined_files(warehouse)["file"].to_list() == ["2026-10.xlsx"]
    assert report.sheets_left == ["2026-09.xlsx: Sheet2"]
    assert any("2026-09.xlsx: sheet(s) Sheet2 share no declared column" in line for line in said), said
    # The Dagster UI shows them on the bronze asset's materialisation, where the rows read are.
    shown = shown_in_dagster(ref, warehouse, report)
    assert shown["bronze/civil_status/deaths"]["sheets_left_this_load"] == "2026-09.xlsx: Sheet2"
    assert "sheets_left_this_load" not in shown["silver/civil_status/deaths"]
    loads = warehouse.read(LOADS).sort("finished_at")
    assert loads[SHEETS_LEFT].to_list() == [None, ["2026-09.xlsx: Sheet2"]]
    assert_exact(ref, warehouse, {f"KT{i:06d}" for i in [*range(5), *range(100, 103)]}, sent_rows=8)
    # A drop load with nothing new records an empty list: no workbook of it left a sheet.
    assert load(ref, warehouse, 3).extracted == 0
    assert warehouse.read(LOADS).sort("finished_at")[SHEETS_LEFT].to_list()[-1] == []


def test_a_parquet_drop_s_typed_dates_land_and_a_file_of_other_types_is_set_aside(tmp_path, monkeypatch):
    """A month of deaths exported as Parquet, its dates typed (not dd/mm/yyyy text as the
    catalogue declares for the ministry's CSV): the dates land, no row is quarantined for them."""
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    records = [line.rstrip("\n").split(",") for line in deaths_rows(0, 3, "2026-09")]
    columns = dict(zip(HEADER.strip().split(","), map(list, zip(*records, strict=True)), strict=True))
    pl.DataFrame(columns).with_columns(
        ngay_dang_ky=pl.lit(dt.date(2026, 9, 15)), ngay_mat=pl.lit(dt.date(2026, 9, 10))
    ).write_parquet(folder / "2026-09.parquet")
    settled(folder)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = drop_ref(tmp_path / "drops", monkeypatch, kind="file_drop")
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    # A month as CSV beside it, in the same load: its text dates cannot be read as the first
    # file's typed ones (one load is one bronze stream), so that file is quarantined whole, kept
    # byte for byte with the reason, and the Parquet file's rows load.
    (folder / "2026-10.csv").write_text(deaths_csv(100, 2, "2026-10"), encoding="utf-8")
    settled(folder)
    report = load(ref, warehouse, 1)
    assert (report.extracted, report.landed, report.quarantined) == (3, 3, 0), report.rule_counts
    assert report.files_quarantined == 1 and report.balanced
    set_aside = quarantined_files(warehouse).row(0, named=True)
    assert set_aside["file"] == "2026-10.csv" and "column types differ" in set_aside["reason"]
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert set(silver["registered_on"]) == {dt.date(2026, 9, 15)} and set(silver["date_of_death"]) == {dt.date(2026, 9, 10)}


def test_symlinks_and_pipes_in_a_drop_folder_are_never_read(deaths_drop, tmp_path, caplog):
    """Defect 7: a symlink in a drop folder copied any readable file into the quarantine table."""
    folder, ref, warehouse = deaths_drop
    secret = tmp_path / "elsewhere" / "secret.csv"  # readable by the loader, outside the drop
    secret.parent.mkdir()
    secret.write_text(deaths_csv(666, 2, "2026-06"), encoding="utf-8")
    (folder / "2026-06.csv").symlink_to(secret)
    (folder / "2026-05.csv").symlink_to("/etc/passwd")
    os.mkfifo(folder / "2026-04.csv")  # a pipe would block a reader for ever
    settled(folder)
    with caplog.at_level("WARNING", logger="ndc.connectors.files"):
        report = load(ref, warehouse, 1)
    assert report.files_not_regular == 3 and report.files_quarantined == 1
    assert sum("not a regular file" in r.getMessage() for r in caplog.records) == 3
    assert quarantined_files(warehouse)["file"].to_list() == ["2026-09.csv"]
    assert warehouse.read(LOADS)["files_not_regular"].to_list() == [3]
    assert shown_in_dagster(ref, warehouse, report)["bronze/civil_status/deaths"]["files_not_regular"] == 3
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103)]}
    assert_exact(ref, warehouse, expected, sent_rows=8)
    # Reading one by name (a file swapped for a symlink after the listing) is refused too.
    connector = open_connector(ref.source.name, "csv_folder", {"path": str(folder.parent)})
    with pytest.raises(NotARegularFile):
        list(connector.read_file("2026-06.csv", ExtractRequest(source=ref.source.name, table="khai_tu")))


def test_a_killed_load_leaves_no_staged_personal_data(tmp_path, monkeypatch):
    """Defect 7: a load killed during MERGE left /tmp/ndc-load-* with the staged rows. The child
    stages a file like a load, then is killed with SIGKILL (no `finally` runs)."""
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path))
    env = {**os.environ}
    child = subprocess.Popen(
        [sys.executable, "-c",
         "from connectors.staging import scratch_dir\n"
         "import time\n"
         "with scratch_dir('load') as folder:\n"
         "    (folder / 'silver-00000.parquet').write_bytes(b'personal data')\n"
         "    print(folder, flush=True)\n"
         "    time.sleep(120)\n"],
        env=env, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
    )
    staged = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
    assert (staged / "silver-00000.parquet").exists()
    root = staged.parent
    assert stat.S_IMODE(root.stat().st_mode) == 0o700 and stat.S_IMODE(staged.stat().st_mode) == 0o700
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert staged.exists()  # the kill left it behind…

    from connectors.staging import scratch_dir

    with scratch_dir("load") as mine:  # …and the next load sweeps it before staging its own
        assert not staged.exists()
        assert mine.parent == root
    assert list(root.iterdir()) == []


KILLED_LOAD = """
import datetime as dt, os, sys, time
from pathlib import Path
from tests.fixtures.drops import drop_ref
from pipeline.load import load_table
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

class Environ:
    def setenv(self, name, value):
        os.environ[name] = value

def stuck_in_merge(*args, **kwargs):
    print("merging", flush=True)
    time.sleep(300)

Warehouse.merge = stuck_in_merge
ref = drop_ref(Path(sys.argv[1]), Environ())
load_table(ref, Warehouse(StorageSettings(warehouse_uri=sys.argv[2])), run_id="killed",
           today=dt.date(2026, 12, 1))
"""


@pytest.mark.slow
def test_a_load_killed_during_merge_is_swept_and_repeated_exactly(deaths_drop, tmp_path):
    """A real load, SIGKILLed while merging into silver: its staged slices are swept by the next
    load, and its files, never recorded as read, are read again: silver ends exact."""
    folder, ref, warehouse = deaths_drop
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOAD, str(folder.parent), str(tmp_path / "warehouse")],
        env={**os.environ}, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
    )
    try:
        assert child.stdout.readline().strip() == "merging"  # type: ignore[union-attr]
        root = next((tmp_path / "staging").iterdir())
        staged = [p for p in root.iterdir() if p.name.startswith(f"load-{child.pid}-")]
        assert len(staged) == 1 and any(staged[0].glob("silver-*.parquet"))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert staged[0].exists()
    report = load(ref, warehouse, 2)
    assert not staged[0].exists() and list(root.iterdir()) == []
    assert report.extracted == 8
    expected = {f"KT{i:06d}" for i in [*range(5), *range(100, 103)]}
    assert_exact(ref, warehouse, expected, sent_rows=8)


def test_load_stages_in_the_private_folder_and_cleans_it(deaths_drop, tmp_path):
    _, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    root = next((tmp_path / "staging").iterdir())
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert list(root.iterdir()) == []


def test_a_table_loaded_before_per_file_cursors_is_not_read_again(deaths_drop):
    """Upgrade: records written before per-file cursors hold only the newest file name; files up
    to it, unchanged since that load, count as read; a late file still loads."""
    folder, ref, warehouse = deaths_drop
    load(ref, warehouse, 1)
    legacy = warehouse.read(LOADS).drop(FILES_READ)
    warehouse.overwrite(LOADS, legacy.to_arrow())  # as an old release wrote it
    again = load(ref, warehouse, 2)
    assert again.extracted == 0 and again.files_quarantined == 0
    (folder / "2026-07.csv").write_text(deaths_csv(700, 1, "2026-07"), encoding="utf-8")
    settled(folder / "2026-07.csv")
    assert load(ref, warehouse, 3).extracted == 1
    assert load(ref, warehouse, 4).extracted == 0


def test_sensor_requests_new_re_sent_and_late_files_once(deaths_drop):
    folder, ref, _ = deaths_drop
    sensor = file_drop_sensor(ref)
    first = sensor(dg.build_sensor_context(cursor=None))
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags["ndc/files"].split(",") == ["2026-08.csv", "2026-09.csv", "2026-10.csv"]
    assert set(json.loads(first.cursor)) == {"2026-08.csv", "2026-09.csv", "2026-10.csv"}
    again = sensor(dg.build_sensor_context(cursor=first.cursor))  # a restart resumes from the stored cursor
    assert isinstance(again, dg.SkipReason)
    (folder / "2026-11.csv").write_text(deaths_csv(200, 1, "2026-11"), encoding="utf-8")
    writing = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert isinstance(writing, dg.SkipReason) and "still being written" in writing.skip_message
    settled(folder / "2026-11.csv")
    (folder / "2026-07.csv").write_text(deaths_csv(700, 1, "2026-07"), encoding="utf-8")  # late
    settled(folder / "2026-07.csv")
    later = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert later.run_requests[0].tags["ndc/files"].split(",") == ["2026-07.csv", "2026-11.csv"]
    (folder / "2026-08.csv").write_text(deaths_csv(0, 6, "2026-08"), encoding="utf-8")  # re-sent
    settled(folder / "2026-08.csv", age_s=100)
    resent = sensor(dg.build_sensor_context(cursor=later.cursor))
    assert resent.run_requests[0].tags["ndc/files"] == "2026-08.csv"
    assert resent.run_requests[0].run_key != later.run_requests[0].run_key
    assert isinstance(sensor(dg.build_sensor_context(cursor=resent.cursor)), dg.SkipReason)
    legacy = sensor(dg.build_sensor_context(cursor="2026-10"))  # a cursor of the first version
    assert len(legacy.run_requests) == 1


@pytest.mark.slow
def test_s3_drop_reads_each_version_once_and_quarantines_odd_headers(
    tmp_path, monkeypatch, seaweedfs_server
):
    """The same rules on an S3 prefix (real SeaweedFS): a late file, a re-sent file, a header
    mismatch. An object appears whole when its upload completes: no settle interval by default."""
    import boto3

    bucket = f"drops-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_key)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    client = boto3.client("s3", endpoint_url=seaweedfs_server.endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)

    def put(name: str, text: str) -> None:
        client.put_object(Bucket=bucket, Key=f"bo_tu_phap/khai_tu/{name}", Body=text.encode())

    shipped = load_catalogue().table("civil_status.deaths")
    source = shipped.source.model_copy(update={"connection": Connection(
        kind="file_drop", s3_uri=f"s3://{bucket}/bo_tu_phap", endpoint_url=seaweedfs_server.endpoint_url,
        region="us-east-1",
    )})
    ref = TableRef(source, shipped.table, shipped.entity)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    put("2026-08.csv", deaths_csv(0, 5, "2026-08"))
    put("2026-10.csv", deaths_csv(100, 3, "2026-10"))
    put("2026-09.csv", HEADER.strip() + ",ghi_chu\n" + "KT1,a,b,c,d,e,f\n")
    first = load(ref, warehouse, 1)
    assert first.extracted == 8 and first.files_quarantined == 1
    assert "extra column(s) ghi_chu" in quarantined_files(warehouse)["reason"][0]
    assert load(ref, warehouse, 2).extracted == 0
    put("2026-07.csv", deaths_csv(700, 2, "2026-07"))  # late
    # Re-sent within the same second: LastModified may not change, the ETag (content) does.
    put("2026-08.csv", deaths_csv(0, 6, "2026-08", "Trần Thị Bình"))  # re-sent
    third = load(ref, warehouse, 3)
    assert third.extracted == 2 + 6 and third.files_quarantined == 0
    put("2026-10.csv", deaths_csv(100, 3, "2026-10"))  # uploaded again, same content: same ETag
    assert load(ref, warehouse, 4).extracted == 0
    expected = {f"KT{i:06d}" for i in [*range(6), *range(100, 103), 700, 701]}
    assert_exact(ref, warehouse, expected, sent_rows=8 + 8)
