"""Cleaning passes run only on the values that need them.

Most values of an ID, code, phone or date column are already in the shape a normaliser's regex
passes would give them; each pass still reads and rewrites every value. Checking the shape is one
pass, and the values already in it are left as they are. A `clean` pattern is only sound if the
passes leave every value matching it unchanged: tests hold each use to that (passes on every
value = passes with the shortcut, on generated values).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def unless_clean(expr: pl.Expr, clean: str, passes: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """`passes(expr)` (a String expression), run on the values not matching the regex `clean` only."""

    def batch(values: pl.Series) -> pl.Series:
        dirty = ~values.str.contains(clean).fill_null(True)  # null stays null
        count = dirty.sum()
        if count == 0:
            return values
        if count * 2 > values.len():  # mostly dirty (names): no point picking the clean ones out
            return values.to_frame("v").select(passes(pl.col("v"))).to_series().alias(values.name)
        positions = dirty.arg_true()
        cleaned = values.gather(positions).to_frame("v").select(passes(pl.col("v"))).to_series()
        return values.clone().scatter(positions, cleaned)

    return expr.cast(pl.String).map_batches(batch, return_dtype=pl.String, is_elementwise=True)
