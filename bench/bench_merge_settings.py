"""Whether delta-rs' MERGE settings move a night's MERGE (issue 14): the same night into copies of
one silver table, once per setting, each in its own process, in an order shuffled per round.

    uv run --group bench python -m bench.bench_merge_settings SILVER_TABLE_URI [--rounds 3]

The night: 1.33% of the live keys updated (a new name, the newest stamp) and ~1% new keys, as the
bench's night. Settings (SETTINGS): delta-rs' default writer; `STREAMED_WRITES` (our 256k-row
groups, Snappy); no column statistics; LZ4; statistics only on the key, `_deleted` and
`updated_at` (`delta.dataSkippingStatsColumns`); a materialised source (`streamed_exec=False`);
silver's change data feed off (`delta.enableChangeDataFeed`: what the feed costs a MERGE; `ndc
changes` reads it, so it stays on).
Prints one JSON line per MERGE: wall and CPU seconds, and delta-rs' own counts, which must agree
across settings (a setting may change the cost, never the result).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY, STAMP = "personal_id", "updated_at"
SETTINGS = ("default", "streamed_writes", "no_statistics", "lz4", "statistics_on_pruning_columns", "materialised",
            "no_change_data_feed")
# A table property set on the copy before its MERGE, by setting.
PROPERTIES = {
    "statistics_on_pruning_columns": {"delta.dataSkippingStatsColumns": f"{KEY},_deleted,{STAMP}"},
    "no_change_data_feed": {"delta.enableChangeDataFeed": "false"},
}


def night(silver_uri: str, path: Path) -> None:
    """The night's rows, written once so that every setting merges the very same rows."""
    import polars as pl

    live = pl.read_delta(silver_uri).filter(~pl.col("_deleted").fill_null(False))
    updates = max(1, live.height * 4 // 300)
    updated = live.sample(updates, seed=1).with_columns(pl.col("full_name") + " X", pl.col(STAMP).max())
    inserted = live.sample(max(1, live.height // 100), seed=2).with_columns(("N" + pl.col(KEY)).alias(KEY))
    pl.concat([updated, inserted]).write_parquet(path)


def merge_once(setting: str, silver_uri: str, night_path: Path, scratch: Path) -> dict[str, object]:
    """One MERGE of the night into a fresh copy of silver, under one setting (run in its own process)."""
    import polars as pl
    from deltalake import ColumnProperties, DeltaTable, WriterProperties

    from warehouse.tables import STREAMED_WRITES

    copy = scratch / setting
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(silver_uri, copy)
    table = DeltaTable(str(copy))
    if setting in PROPERTIES:
        table.alter.set_table_properties(PROPERTIES[setting])
        table = DeltaTable(str(copy))
    writer = {
        "streamed_writes": STREAMED_WRITES,
        "no_statistics": WriterProperties(
            max_row_group_size=262_144, compression="SNAPPY",
            default_column_properties=ColumnProperties(statistics_enabled="NONE"),
        ),
        "lz4": WriterProperties(max_row_group_size=262_144, compression="LZ4_RAW"),
    }.get(setting)
    rows = pl.read_parquet(night_path).to_arrow()
    started, cpu = time.perf_counter(), time.process_time()
    metrics = (
        table.merge(
            rows, f"t.{KEY} = s.{KEY}", source_alias="s", target_alias="t",
            writer_properties=writer, streamed_exec=setting != "materialised",
        )
        .when_matched_update_all(predicate=f"t.{STAMP} IS NULL OR s.{STAMP} >= t.{STAMP}")
        .when_not_matched_insert_all()
        .execute()
    )
    return {
        "setting": setting, "wall_s": round(time.perf_counter() - started, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        **{k: metrics[k] for k in ("num_target_rows_updated", "num_target_rows_inserted", "num_target_rows_copied")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("silver", help="a silver table's folder (a local Delta table), e.g. .ndc/warehouse/silver/population/citizens")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"some of {', '.join(SETTINGS)}")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the measured child: one setting
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(merge_once(args.one, args.silver, Path(args.scratch) / "night.parquet", Path(args.scratch))))
        return 0
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}: choose from {', '.join(SETTINGS)}")
    with tempfile.TemporaryDirectory(prefix="merge-settings-") as scratch:
        night(args.silver, Path(scratch) / "night.parquet")
        for number in range(args.rounds):
            for setting in random.Random(number).sample(settings, len(settings)):
                done = subprocess.run(
                    [sys.executable, "-m", "bench.bench_merge_settings", args.silver, "--one", setting,
                     "--scratch", scratch],
                    capture_output=True, text=True, check=True,
                )
                print(done.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
