"""bench/bench_merge_settings.py: every setting merges the same night into its own copy of silver,
to the same result (a setting may change what a MERGE costs, never what it does)."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
from deltalake import write_deltalake

from bench import bench_merge_settings
from warehouse.tables import CHANGE_FEED


def test_each_setting_merges_the_same_night_to_the_same_result(tmp_path, capsys):
    rows = 3000
    silver = tmp_path / "citizens"
    frame = pl.DataFrame({
        "personal_id": [f"{i:012d}" for i in range(rows)],
        "full_name": [f"Nguyễn Văn {i}" for i in range(rows)],
        "updated_at": [datetime(2026, 11, 1 + i % 20) for i in range(rows)],
        "_deleted": [i % 50 == 0 for i in range(rows)],
    })
    write_deltalake(str(silver), frame.to_arrow(), configuration=CHANGE_FEED)

    assert bench_merge_settings.main([str(silver), "--rounds", "1"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(line["setting"] for line in lines) == sorted(bench_merge_settings.SETTINGS)
    live = frame.filter(~pl.col("_deleted")).height
    for line in lines:
        assert line["num_target_rows_updated"] == live * 4 // 300, line
        assert line["num_target_rows_inserted"] == live // 100, line
        assert line["num_target_rows_copied"] == lines[0]["num_target_rows_copied"] > 0, line
    assert pl.read_delta(str(silver)).height == rows  # the copies were merged, not the table
