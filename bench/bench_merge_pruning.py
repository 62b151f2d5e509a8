"""What a night's MERGE rewrites, by silver's layout and by where the night's keys fall (issue 14).

    uv run --group bench python -m bench.bench_merge_pruning [SILVER_TABLE_URI]

(default: the demo's `.ndc/warehouse/silver/population/citizens`; run `uv run ndc demo` first).
Copies that table's rows into throw-away tables laid out three ways (as loaded: one file; sorted
by key into ~16 and ~64 files), then MERGEs a night into each through `Warehouse.merge`: 1% of
the keys updated and 1% inserted at random (the bench's night), or the same number of updates
confined to one province's keys (the first three digits), with and without the key range
(`bounds`). Prints CPU seconds of the MERGE and delta-rs's own metrics (files removed = files
rewritten) as JSON lines.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from warehouse.storage import StorageSettings
from warehouse.tables import CHANGE_FEED, TableName, Warehouse, key_bounds

KEY = "personal_id"
NAME = TableName("silver", "bench", "citizens")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    uri = argv[0] if argv else ".ndc/warehouse/silver/population/citizens"
    silver = pl.read_delta(uri)
    live = silver.filter(~pl.col("_deleted").fill_null(False))
    n = live.height // 100
    picked = live.sample(n=2 * n, seed=14)
    updated = picked[:n].with_columns(pl.col("full_name") + " Mới", pl.col("updated_at") + pl.duration(hours=1))
    new = picked[n:].with_columns(pl.col(KEY).str.slice(0, 6) + pl.lit("9") + pl.col(KEY).str.slice(7))
    new = new.join(silver.select(KEY), on=KEY, how="anti")
    province = updated[KEY][0][:3]
    local = live.filter(pl.col(KEY).str.starts_with(province)).sample(fraction=0.05, seed=14).with_columns(
        pl.col("full_name") + " Mới", pl.col("updated_at") + pl.duration(hours=1))
    nights = {"random: 1% updated, 1% inserted": pl.concat([updated, new]),
              f"one province ({province}), {local.height} updated": local}
    size = sum(f.stat().st_size for f in Path(uri).glob("*.parquet")) or 1
    layouts = {"as loaded": (silver, None), "sorted by key, ~16 files": (silver.sort(KEY), size // 16),
               "sorted by key, ~64 files": (silver.sort(KEY), size // 64)}
    with tempfile.TemporaryDirectory(prefix="merge-pruning-") as scratch:
        warehouse = Warehouse(StorageSettings(warehouse_uri=scratch))
        # A first MERGE pays delta-rs's one-off start-up in this process: not measured.
        write_deltalake(warehouse.uri(NAME), silver.head(1000).to_arrow(), configuration=CHANGE_FEED)
        warehouse.merge(NAME, silver.head(10).to_arrow(), [KEY], "warm-up")
        for layout, (frame, file_size) in layouts.items():
            for night, rows in nights.items():
                for with_bounds in (False, True):
                    shutil.rmtree(warehouse.uri(NAME), ignore_errors=True)
                    write_deltalake(warehouse.uri(NAME), frame.to_arrow(), configuration=CHANGE_FEED,
                                    target_file_size=file_size)
                    files = len(warehouse.table(NAME).file_uris())
                    started = _cpu()
                    bounds = key_bounds(rows, columns=[KEY]) if with_bounds else None
                    warehouse.merge(NAME, rows.to_arrow(), [KEY], "night", newer_wins_on="updated_at", bounds=bounds)
                    cpu = _cpu() - started
                    metrics = warehouse.table(NAME).history(1)[0]["operationMetrics"]
                    print(json.dumps({
                        "layout": layout, "files": files, "night": night, "key_range": with_bounds,
                        "merge_cpu_s": round(cpu, 3), "source_rows": rows.height,
                        **{k: metrics[k] for k in ("num_target_files_removed", "num_target_files_skipped_during_scan",
                                                   "num_target_rows_copied", "num_target_rows_updated",
                                                   "num_target_rows_inserted")},
                    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
