"""bench/bench_columns.py: one row per source column, on the path the load takes. Its timings are
measurements, not checked here; speed itself is measured by bench/, never by tests."""

from __future__ import annotations

import polars as pl

from bench.bench_columns import column_costs
from catalogue import load_catalogue


def test_each_source_column_once_on_the_path_the_load_takes():
    ref = load_catalogue().table("population.citizens")
    sources = list(dict.fromkeys(m.source for m in ref.table.columns))
    rows = 1000
    raw = pl.DataFrame({name: [f"{name}-{i % 10}" for i in range(rows)] for name in sources}).with_columns(
        pl.Series("so_dinh_danh", [f"{i:012d}" for i in range(rows)])  # a key: every value once
    )
    costs = column_costs(raw, ref, repeat=1)
    assert costs["column"].to_list() == sources
    paths = dict(zip(costs["column"], costs["path"], strict=True))
    assert paths.pop("so_dinh_danh") == "direct"
    assert set(paths.values()) == {"distinct"}
