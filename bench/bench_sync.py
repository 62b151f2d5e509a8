"""Peak memory and speed of one table's sync (extract → bronze → validate → quarantine / silver)
at one or more table sizes, each case in its own process, against a baseline in the same run.

    uv run python bench/bench_sync.py                   # 1,000,000 and 4,000,000 rows
    uv run python bench/bench_sync.py --rows 1000000    # the README's figures

The table is welfare payments (`chi_tra`) in a SQLite file, ~3% dirty rows. The baseline is the
connector alone streaming the same table (no warehouse): the sync's memory should stay flat as
the table grows, like the baseline's. Wall and CPU seconds and peak memory are printed with their
ratio to that baseline; on a shared machine the CPU seconds and the ratios are the steadier figures.
Cases:

    sync            the first, full load with `deletes: none`
    sync+reconcile  the same load with `deletes: reconcile` (the shipped choice): also reads the keys
    night           the next night after the source deleted 1% of its rows: the look-back window
                    (`lookback: 2d`: 171,072 rows here), with `deletes: none` (deletions missed)
    night+reconcile the same night with `deletes: reconcile` (the 1% tombstoned)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def make_source(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    base = dt.datetime(2025, 1, 1)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE chi_tra (ma_chi_tra TEXT, ma_doi_tuong TEXT, ky_chi_tra TEXT, so_tien TEXT, "
            "ngay_chi_tra TEXT, ngay_cap_nhat TEXT)"
        )
        step = 250_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            ids = np.arange(start, start + n)
            amount = rng.integers(500_000, 3_000_000, n).astype(str)
            amount[rng.random(n) < 0.03] = "-5"  # dirt: a payment below zero
            frame = pl.DataFrame(
                {
                    "ma_chi_tra": [f"CT{i:09d}" for i in ids],
                    "ma_doi_tuong": [f"DT{i % 100_000:06d}" for i in ids],
                    "ky_chi_tra": "10/2025",
                    "so_tien": amount,
                    "ngay_chi_tra": "05/10/2025",
                    "ngay_cap_nhat": [
                        (base + dt.timedelta(seconds=int(i))).strftime("%Y-%m-%d %H:%M:%S") for i in ids
                    ],
                }
            )
            db.executemany("INSERT INTO chi_tra VALUES (?,?,?,?,?,?)", frame.iter_rows())


DELETED_SHARE = 100  # the night: the source deleted one row in this many


def delete_some(path: Path) -> int:
    """The night at the ministry: every hundredth payment deleted outright."""
    with sqlite3.connect(path) as db:
        return db.execute(f"DELETE FROM chi_tra WHERE rowid % {DELETED_SHARE} = 0").rowcount


def _cpu_seconds() -> float:
    """CPU time of this process: steadier than wall time on a machine shared with other work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_case(case: str, source: Path, warehouse: Path) -> dict[str, float]:
    """One measurement in this process (called in a fresh subprocess)."""
    import os

    os.environ["NDC_DEMO_DIR"] = str(source.parent)
    from catalogue import load_catalogue
    from catalogue.loader import TableRef
    from catalogue.models import Connection
    from connectors import ExtractRequest, open_connector
    from pipeline.load import load_table
    from warehouse.storage import StorageSettings
    from warehouse.tables import Warehouse

    shipped = load_catalogue().table("welfare.payments")
    source_model = shipped.source.model_copy(
        update={"connection": Connection(kind="sqlite", path=str(source))}
    )
    deletes = "reconcile" if case.endswith("+reconcile") else "none"
    table = shipped.table.model_copy(update={"deletes": deletes})
    ref = TableRef(source_model, table, shipped.entity)
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    deleted = 0
    if case == "baseline":
        connector = open_connector("welfare", "sqlite", {"path": str(source)})
        rows = sum(b.num_rows for b in connector.extract(ExtractRequest(source="welfare", table="chi_tra")))
    else:
        report = load_table(
            ref,
            Warehouse(StorageSettings(warehouse_uri=str(warehouse))),
            run_id=f"bench-{case}",
            today=dt.date(2026, 1, 1),
        )
        assert report.balanced
        rows, deleted = report.extracted, report.deleted
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_mib": round(peak),
        "rows_per_s": round(rows / seconds),
        "deleted": deleted,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, Path(args.source), Path(args.warehouse))))
        return
    print(
        f"{'rows':>10} {'case':>16} {'read':>10} {'tombstoned':>10} {'wall s':>7} {'x base':>7} "
        f"{'CPU s':>7} {'x base':>7} {'peak MiB':>9} {'x base':>7}"
    )
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "welfare.sqlite"
            make_source(source, rows)
            baseline: dict[str, float] = {}
            # Each sync case has its own warehouse; a night runs on the warehouse its sync built.
            for case, warehouse in (
                ("baseline", "none"),
                ("sync", "none"),
                ("sync+reconcile", "reconcile"),
                ("night", "none"),
                ("night+reconcile", "reconcile"),
            ):
                if case == "night":
                    delete_some(source)
                result = _measure(case, source, Path(tmp) / f"wh-{warehouse}")
                baseline = baseline or result
                print(
                    f"{rows:>10,} {case:>16} {result['rows']:>10,} {result['deleted']:>10,} "
                    f"{result['seconds']:>7} {result['seconds'] / baseline['seconds']:>7.1f} "
                    f"{result['cpu_seconds']:>7} {result['cpu_seconds'] / baseline['cpu_seconds']:>7.1f} "
                    f"{result['peak_mib']:>9,} {result['peak_mib'] / baseline['peak_mib']:>7.1f}",
                    flush=True,
                )


def _measure(case: str, source: Path, warehouse: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, "--source", str(source), "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
