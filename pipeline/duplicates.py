"""Duplicate keys within one load, decided by a declared rule, never by an arbitrary pick.

- exact copies of a source row (every ministry column equal) are counted as deduplicated;
- several versions of one key: the latest version wins (ordered by the table's version column,
  else its watermark: pipeline/versions.py), older ones are quarantined as `superseded`; if several
  versions share the latest one there is no honest winner, so all of them are quarantined as
  `conflicting_versions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

# The rules a duplicate breaks, declared with the other pipeline rules (versions.py imports SUPERSEDED here).
from pipeline.rules import CONFLICTING_VERSIONS as CONFLICTING
from pipeline.rules import SUPERSEDED as SUPERSEDED

DUPLICATE = "_duplicate"  # null, or "exact" / "superseded" / "conflicting_versions"
EXACT = "exact"  # counted as deduplicated, not a rule: nothing was wrong with the row
_CANDIDATE, _STAMP, _LATEST = "_dup_candidate", "_dup_stamp", "_dup_latest"


def classify_duplicates(
    frame: pl.LazyFrame, *, keys: Sequence[str], raw_columns: Sequence[str], watermark: str | None
) -> pl.LazyFrame:
    """Add the `_duplicate` column; rows are otherwise unchanged and in the same order."""
    key_cols = list(keys)
    exact = ~pl.struct(list(raw_columns)).is_first_distinct()
    has_key = pl.all_horizontal(pl.col(k).is_not_null() for k in keys)
    # Materialise the row-wise parts first: inside a window every expression is evaluated per
    # group, and `is_first_distinct` per group turns a linear pass into a quadratic one.
    frame = frame.with_columns(exact.alias(DUPLICATE)).with_columns(
        (has_key & ~pl.col(DUPLICATE)).alias(_CANDIDATE)
    )
    frame = frame.with_columns(
        pl.when(pl.col(_CANDIDATE)).then(pl.col(watermark) if watermark else pl.lit(0)).alias(_STAMP)
    )
    candidate, stamp = pl.col(_CANDIDATE), pl.col(_STAMP)
    # Likewise a window nested in a window: the latest-version flag becomes a column first.
    frame = frame.with_columns((stamp == stamp.max().over(key_cols)).fill_null(False).alias(_LATEST))
    versions = candidate.sum().over(key_cols)
    at_latest = pl.col(_LATEST)
    tied = (at_latest & candidate).sum().over(key_cols) > 1
    return frame.with_columns(
        pl.when(pl.col(DUPLICATE))
        .then(pl.lit(EXACT))
        .when(candidate & (versions > 1) & ~at_latest)
        .then(pl.lit(SUPERSEDED))
        .when(candidate & (versions > 1) & at_latest & tied)
        .then(pl.lit(CONFLICTING))
        .otherwise(pl.lit(None, pl.String))
        .alias(DUPLICATE)
    ).drop(_CANDIDATE, _STAMP, _LATEST)
