"""Which version of a record is newest: a declared column of the record, not the order of arrival.

A table's `watermark` is its cursor (which rows or files were read); its `version_column`, when
declared, is the ministry's own version stamp (e.g. its update timestamp). Versions are ordered by
the canonical column made from the version column, else from the watermark (today's rule for SQL
tables, whose update stamp is both). With a declared version column, a version older than the one
silver already holds is `superseded` across loads too: quarantined with that rule, never landed,
so that MERGE (which keeps the newer row) and the load's counts tell the same story. For a table
fed by several channels, a version equal to silver's is the same record come by another channel
(or read again): counted as deduplicated, not landed twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from catalogue import Table, TableRef
from pipeline.duplicates import DUPLICATE, EXACT, SUPERSEDED
from pipeline.mapping import canonical_expressions


def version_order(table: Table) -> str | None:
    """The canonical column that orders the versions of one key, if the mapping keeps one."""
    column = table.version_column or table.watermark
    if column is None:
        return None
    return next((m.to for m in table.columns if m.source == column), None)


def older_than_silver(
    arrivals: pl.LazyFrame, silver: pl.LazyFrame, *, keys: Sequence[str], version: str, row: str
) -> pl.DataFrame:
    """The `row` ids of arrivals older than the version silver holds for their key.

    Mirrors MERGE's own condition (a silver row is replaced only by one whose version is at least
    as new, or when silver's is null): an arrival MERGE would not apply is exactly one listed here,
    so nothing is counted as landed that silver does not take.
    """
    held = silver.select(*keys, pl.col(version).alias("_silver_version")).filter(
        pl.col("_silver_version").is_not_null()
    )
    return (
        arrivals.select(row, *keys, version)
        .join(held, on=list(keys), how="inner")
        .filter(pl.col(version).is_null() | (pl.col(version) < pl.col("_silver_version")))
        .select(row)
        .collect()
    )


def same_as_silver(
    arrivals: pl.LazyFrame, silver: pl.LazyFrame, *, keys: Sequence[str], version: str, row: str
) -> pl.DataFrame:
    """The `row` ids of arrivals whose version is the one silver holds for their key."""
    held = silver.select(*keys, pl.col(version).alias("_silver_version"))
    return (
        arrivals.select(row, *keys, version)
        .join(held, on=list(keys), how="inner")
        .filter(pl.col(version) == pl.col("_silver_version"))
        .select(row)
        .collect()
    )


def with_superseded_by_silver(
    ref: TableRef, this_run: pl.LazyFrame, silver: pl.LazyFrame | None, decisions: pl.DataFrame, *, row: str
) -> pl.DataFrame:
    """The load's duplicate decisions (`row`, `_duplicate`), plus `superseded` for every row not
    decided yet whose version is older than silver's; unchanged without a declared version column."""
    version = version_order(ref.table)
    if ref.table.version_column is None or version is None or silver is None:
        return decisions
    if version not in silver.collect_schema().names():  # silver written before the column was mapped
        return decisions
    keys = ref.entity.primary_key
    wanted = {*keys, version}
    arrivals = this_run.select(
        pl.col(row),
        *(expr for name, expr in canonical_expressions(ref.table, ref.entity).items() if name in wanted),
    ).join(decisions.lazy(), on=row, how="anti")
    verdicts = [older_than_silver(arrivals, silver, keys=keys, version=version, row=row).with_columns(
        pl.lit(SUPERSEDED).alias(DUPLICATE)
    )]
    if ref.lands_in is not None:  # a channel of several: a version silver holds already is a copy
        copies = same_as_silver(arrivals, silver, keys=keys, version=version, row=row)
        verdicts.append(copies.with_columns(pl.lit(EXACT).alias(DUPLICATE)))
    found = pl.concat(verdicts).select(decisions.columns).cast(dict(decisions.schema))  # type: ignore[arg-type]
    return pl.concat([decisions, found]) if found.height else decisions
