"""The file-drop faults of issue 11, replayed from outside on real files: what each load read.

One deaths drop (the shipped `civil_status.deaths` table, a local `csv_folder`, default settle
interval of 60 s; file times are set back to say "dropped minutes ago"), then in turn: a file
half-written (cut at a line end), the same file completed, a corrected file re-sent under its name,
a late file whose name sorts first, a file with an extra column in front of a good one, a symlink
to /etc/passwd, a 50 MB malformed file over three runs, and every file touched. Prints each
load's counts, what the quarantine of whole files holds, and silver against what was sent.

Run: `uv run python bench/bench_file_drops.py`
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from catalogue import load_catalogue
from catalogue.loader import TableRef
from catalogue.models import Connection
from pipeline.load import load_table
from pipeline.load_report import LoadReport
from pipeline.names import LoadNames
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

HEADER = "so_dang_ky,ngay_dang_ky,so_dinh_danh,ho_ten,ngay_mat,ma_tinh_dang_ky\n"
FILES = TableName("quarantine", "civil_status", "deaths__files")


def deaths_rows(first: int, count: int, month: str, name: str = "Nguyễn Văn An") -> list[str]:
    return [
        f"KT{i:06d},15/{month[5:]}/{month[:4]},,{name} {i},10/{month[5:]}/{month[:4]},01\n"
        for i in range(first, first + count)
    ]


def dropped_ago(*paths: Path, seconds: float = 300) -> None:
    stamp = time.time() - seconds
    for path in paths:
        os.utime(path, (stamp, stamp), follow_symlinks=False)


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-drops-"))
    os.environ["NDC_STAGING_DIR"] = str(scratch / "staging")
    os.environ["NDC_BENCH_DROPS"] = str(scratch / "drops")
    folder = scratch / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    shipped = load_catalogue().table("civil_status.deaths")
    source = shipped.source.model_copy(
        update={"connection": Connection(kind="csv_folder", path="${NDC_BENCH_DROPS}")}
    )
    ref = TableRef(source, shipped.table, shipped.entity)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(scratch / "warehouse")))
    runs = iter(range(1, 100))

    def load(label: str) -> LoadReport:
        started = time.perf_counter()
        report = load_table(ref, warehouse, run_id=f"bench-{next(runs)}", today=dt.date(2026, 12, 1))
        print(f"{label:<46} extracted={report.extracted:>3} landed={report.landed:>3} "
              f"files_quarantined={report.files_quarantined} waiting={report.files_waiting} "
              f"not_regular={report.files_not_regular} ({time.perf_counter() - started:.1f} s)")
        return report

    def write(name: str, text: str, *, age_s: float | None = 300) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        if age_s is not None:
            dropped_ago(path, seconds=age_s)
        return path

    write("2026-08.csv", HEADER + "".join(deaths_rows(0, 5, "2026-08")))
    write("2026-10.csv", HEADER + "".join(deaths_rows(100, 3, "2026-10")))
    load("two good files (8 rows)")
    rows = deaths_rows(300, 10, "2026-11")
    growing = write("2026-11.csv", HEADER + "".join(rows[:5]), age_s=None)
    load("2026-11.csv half-written (5 of 10 rows)")
    with growing.open("a", encoding="utf-8") as handle:
        handle.write("".join(rows[5:]))
    dropped_ago(growing)
    load("2026-11.csv complete and settled")
    write("2026-08.csv", HEADER + "".join(deaths_rows(0, 6, "2026-08", "Trần Thị Bình")), age_s=100)
    load("2026-08.csv re-sent corrected (6 rows)")
    write("2026-07.csv", HEADER + "".join(deaths_rows(700, 3, "2026-07")))
    load("late 2026-07.csv (3 rows)")
    write("2026-12.csv", HEADER.strip() + ",ghi_chu\n" + "KT9,a,b,c,d,e,f\n")
    write("2027-01.csv", HEADER + "".join(deaths_rows(400, 2, "2026-11")))
    load("extra-column file + a good one (2 rows)")
    (folder / "2027-02.csv").symlink_to("/etc/passwd")
    load("symlink 2027-02.csv -> /etc/passwd")
    big = folder / "2027-03.csv"
    with big.open("w", encoding="utf-8") as handle:
        line = "x," * 40 + "\n"
        handle.write(HEADER + line * (50 * 2**20 // len(line)))
    dropped_ago(big)
    for attempt in (1, 2, 3):
        load(f"50 MB malformed file, run {attempt}")
    dropped_ago(*(path for path in folder.iterdir() if not path.is_symlink()), seconds=200)
    load("every file touched (new time, same bytes)")

    quarantined = warehouse.read(FILES)
    silver = warehouse.read(LoadNames.of(ref).silver)
    loads = warehouse.read(LOADS)
    print("quarantine.civil_status.deaths__files:", quarantined.select("file", "bytes").rows(),
          "| holds /etc/passwd:", any(b"root:" in content for content in quarantined["content"]))
    print(f"silver: {silver.height} rows, {silver['registration_no'].n_unique()} distinct keys "
          f"(sent: 24 distinct keys) | every load balanced: {loads['balanced'].all()}; extracted "
          f"{loads['extracted'].sum()} = landed {loads['landed'].sum()} + quarantined "
          f"{loads['quarantined'].sum()} + deduplicated {loads['deduplicated'].sum()}")
    left = [path.name for root in (scratch / "staging").iterdir() for path in root.iterdir()]
    print(f"staging folders left: {len(left)}")


if __name__ == "__main__":
    main()
