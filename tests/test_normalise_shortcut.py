"""unless_clean: the passes see the dirty values only, and their results land in their places."""

import polars as pl

from normalise.shortcut import unless_clean


def test_the_shortcut_runs_the_passes_on_the_dirty_values_only():
    seen: list[list] = []

    def passes(expr: pl.Expr) -> pl.Expr:
        return expr.map_batches(lambda v: (seen.append(v.to_list()), v.str.to_uppercase())[1], return_dtype=pl.String)

    frame = pl.DataFrame({"raw": ["ok", "dirty one", "ok", None, "ok", "ok"]})
    out = frame.select(unless_clean(pl.col("raw"), r"^ok$", passes)).to_series().to_list()
    assert out == ["ok", "DIRTY ONE", "ok", None, "ok", "ok"]
    assert seen == [["dirty one"]]


def test_a_mostly_dirty_batch_runs_the_passes_on_every_value_once():
    seen: list[list] = []

    def passes(expr: pl.Expr) -> pl.Expr:
        return expr.map_batches(lambda v: (seen.append(v.to_list()), v.str.to_uppercase())[1], return_dtype=pl.String)

    raw = ["a", "ok", "b", None, "c"]
    out = pl.DataFrame({"raw": raw}).select(unless_clean(pl.col("raw"), r"^ok$", passes)).to_series().to_list()
    assert out == ["A", "OK", "B", None, "C"]  # the passes saw the clean value too: picking it out costs more
    assert seen == [raw]
