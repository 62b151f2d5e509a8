"""Cleaning passes, and other rare steps, run only on the values that need them.

Most values of an ID, code, phone or date column are already in the shape a normaliser's regex
passes would give them; each pass still reads and rewrites every value. Checking the shape is one
pass, and the values already in it are left as they are. A `clean` pattern is only sound if the
passes leave every value matching it unchanged: tests hold each use to that (passes on every
value = passes with the shortcut, on generated values). `on_rows` is the same idea for any step
that only some rows need (normalise/phone.py: old prefixes, other digits, the 2017 landlines).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from normalise.raw import text_of


def on_rows(
    rows: pl.Series, step: Callable[[pl.Series], pl.Series], values: pl.Series, into: pl.Series | None = None
) -> pl.Series:
    """`into` (by default `values`) with the rows where the Boolean `rows` is true replaced by
    `step` of those rows of `values`: a step only a few rows need, run on them alone instead of
    over every row and masked. `step` returns one value per row it is given, in order."""
    into = values if into is None else into
    positions = rows.arg_true()
    if positions.len() == 0:
        return into
    return into.clone().scatter(positions, step(values.gather(positions)))


def unless_clean(expr: pl.Expr, clean: str, passes: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """`passes(expr)` (a String expression), run on the values not matching the regex `clean` only;
    `expr` is read as text as normalise/raw.py writes it."""

    def batch(values: pl.Series) -> pl.Series:
        dirty = ~values.str.contains(clean).fill_null(True)  # null stays null
        if dirty.sum() * 2 > values.len():  # mostly dirty (names): no point picking the clean ones out
            return run_passes(values).alias(values.name)
        return on_rows(dirty, run_passes, values)

    def run_passes(values: pl.Series) -> pl.Series:
        return values.to_frame("v").select(passes(pl.col("v"))).to_series()

    return expr.map_batches(lambda values: batch(text_of(values)), return_dtype=pl.String, is_elementwise=True)
