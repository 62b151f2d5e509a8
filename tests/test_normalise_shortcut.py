"""unless_clean and on_rows: a step sees the rows that need it only, and its results land in their places."""

import polars as pl

from normalise.shortcut import on_rows, unless_clean


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


def test_on_rows_runs_the_step_on_the_chosen_rows_only_and_leaves_its_inputs_unchanged():
    seen: list[list] = []

    def step(values: pl.Series) -> pl.Series:
        seen.append(values.to_list())
        return values.str.to_uppercase()

    values = pl.Series("v", ["a", "b", None, "c"])
    rows = pl.Series([False, True, None, True])  # a null is not chosen
    assert on_rows(rows, step, values).to_list() == ["a", "B", None, "C"]
    assert seen == [["b", "c"]]
    assert values.to_list() == ["a", "b", None, "c"]  # scattered into a copy, not into the caller's series


def test_on_rows_writes_into_another_base_and_skips_the_step_when_no_row_needs_it():
    values, base = pl.Series(["04 1", "x", "08 2"]), pl.Series([None, None, None], dtype=pl.String)
    out = on_rows(pl.Series([True, False, True]), lambda v: v.str.replace(" ", ""), values, into=base)
    assert out.to_list() == ["041", None, "082"]
    assert base.to_list() == [None, None, None]

    def never(values: pl.Series) -> pl.Series:
        raise AssertionError("the step ran on no rows")

    assert on_rows(pl.Series([False, False, False]), never, values, into=base).to_list() == [None, None, None]
