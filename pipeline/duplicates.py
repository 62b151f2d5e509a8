"""Duplicate keys within one load, decided by a declared rule, never by an arbitrary pick.

- exact copies of a source row (every ministry column equal) are counted as deduplicated;
- several versions of one key: the latest watermark wins, older ones are quarantined as
  `superseded`; if several versions share the latest watermark there is no honest winner, so all
  of them are quarantined as `conflicting_versions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

DUPLICATE = "_duplicate"  # null, or "exact" / "superseded" / "conflicting_versions"
EXACT, SUPERSEDED, CONFLICTING = "exact", "superseded", "conflicting_versions"


def classify_duplicates(
    frame: pl.LazyFrame, *, keys: Sequence[str], raw_columns: Sequence[str], watermark: str | None
) -> pl.LazyFrame:
    """Add the `_duplicate` column; rows are otherwise unchanged and in the same order."""
    raw = pl.struct(list(raw_columns))
    exact = ~raw.is_first_distinct()
    has_key = pl.all_horizontal(pl.col(k).is_not_null() for k in keys)
    key_cols = list(keys)
    # Among rows that are not exact copies, rank the versions of each key by watermark.
    candidate = has_key & ~exact
    stamp = pl.col(watermark) if watermark else pl.lit(0)
    stamp = pl.when(candidate).then(stamp)
    latest = stamp.max().over(key_cols)
    versions = candidate.sum().over(key_cols)
    at_latest = (stamp == latest).fill_null(False)
    tied = (at_latest & candidate).sum().over(key_cols) > 1
    return frame.with_columns(
        pl.when(exact)
        .then(pl.lit(EXACT))
        .when(candidate & (versions > 1) & ~at_latest)
        .then(pl.lit(SUPERSEDED))
        .when(candidate & (versions > 1) & at_latest & tied)
        .then(pl.lit(CONFLICTING))
        .otherwise(pl.lit(None, pl.String))
        .alias(DUPLICATE)
    )
