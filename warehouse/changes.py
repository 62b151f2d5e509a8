"""The history of every change to a silver table, from Delta's change data feed (`ndc changes`).

Silver tables are created with `delta.enableChangeDataFeed = true` (warehouse/tables.py), so each
MERGE records its inserted rows and each updated row's before and after images. A table created
before that setting records changes only from the commit after it is switched on:
`enable_change_feed` does so (one metadata commit; the nightly worklists asset calls it), and
changes made before cannot be recovered from the feed (Delta's time travel still has the versions).

What is printed per change: `insert` (a new key), `update` (one row per column whose value
changed, before and after), `tombstone` (the source deleted the key: `_deleted` became true) and
`delete` (a row physically removed, which the pipeline itself never does). Updates that change
only the load's own bookkeeping (run id, load time; a re-run of the same window) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
import pyarrow as pa

from warehouse.tables import CHANGE_FEED, TableName, Warehouse

CHANGE_TYPE, VERSION, COMMITTED = "_change_type", "_commit_version", "_commit_timestamp"
# Columns that say which load wrote a row, not what the ministry holds: not a change of the record.
BOOKKEEPING = frozenset({"_run_id", "_loaded_at", "_row", "_ingested_at", "_warnings", "_deleted_at"})
PROPERTY = next(iter(CHANGE_FEED))


class ChangesError(ValueError):
    """The table keeps no change feed, or has none in the asked range; the message says what to do."""


def has_change_feed(warehouse: Warehouse, name: TableName) -> bool:
    return warehouse.table(name).metadata().configuration.get(PROPERTY, "").lower() == "true"


def enable_change_feed(warehouse: Warehouse, name: TableName) -> bool:
    """Switch the feed on for a table created without it; True when it was switched on now."""
    if not warehouse.exists(name) or has_change_feed(warehouse, name):
        return False
    warehouse.table(name).alter.set_table_properties(CHANGE_FEED, raise_if_not_exists=False)
    return True


def enable_change_feeds(catalogue: object, warehouse: Warehouse) -> list[str]:
    """Switch the feed on for every silver table of the catalogue that lacks it; the tables switched."""
    switched = []
    for ref in catalogue.tables:  # type: ignore[attr-defined]
        name = TableName("silver", ref.domain, ref.table.name)
        if enable_change_feed(warehouse, name):
            switched.append(str(name))
    return switched


def raw_changes(warehouse: Warehouse, name: TableName, since: datetime) -> pl.DataFrame:
    """The change feed's rows committed at or after `since` (Delta's own columns included)."""
    if not warehouse.exists(name):
        raise ChangesError(f"no table {name}")
    if not has_change_feed(warehouse, name):
        raise ChangesError(
            f"{name} keeps no change data feed (created before it was switched on): the next nightly sync "
            "switches it on, and changes are recorded from then on"
        )
    table = warehouse.table(name)
    reader = table.load_cdf(starting_timestamp=since.isoformat(), allow_out_of_range=True)
    # deltalake hands an Arrow C stream (arro3), which pyarrow reads without a copy.
    return pl.from_arrow(pa.RecordBatchReader.from_stream(reader).read_all())  # type: ignore[return-value]


def describe(feed: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """One row per insert, tombstone or delete, and one per changed column of an update:
    version, committed_at, change, key, column, before, after (values as text)."""
    columns = ["version", "committed_at", "change", "key", "column", "before", "after"]
    out = pl.DataFrame(schema=dict.fromkeys(columns, pl.String) | {"version": pl.Int64})
    if not feed.height:
        return out
    data = [c for c in feed.columns if c not in (CHANGE_TYPE, VERSION, COMMITTED) and c not in BOOKKEEPING]
    as_text = feed.with_columns(
        pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="|").alias("_key"),
        *(pl.col(c).cast(pl.String) if not isinstance(feed.schema[c], pl.List) else pl.col(c).list.join("|") for c in data),
    )
    whole = as_text.filter(pl.col(CHANGE_TYPE).is_in(["insert", "delete"])).select(
        pl.col(VERSION).cast(pl.Int64).alias("version"),
        pl.col(COMMITTED).cast(pl.String).alias("committed_at"),
        pl.col(CHANGE_TYPE).alias("change"),
        pl.col("_key").alias("key"),
        pl.lit(None, pl.String).alias("column"),
        pl.lit(None, pl.String).alias("before"),
        pl.lit(None, pl.String).alias("after"),
    )
    before = as_text.filter(pl.col(CHANGE_TYPE) == "update_preimage")
    after = as_text.filter(pl.col(CHANGE_TYPE) == "update_postimage")
    pairs = before.join(after, on=[VERSION, "_key"], suffix="_after")
    long = pl.concat(
        [
            pairs.select(
                pl.col(VERSION).cast(pl.Int64).alias("version"),
                pl.col(f"{COMMITTED}_after").cast(pl.String).alias("committed_at"),
                pl.col("_key").alias("key"),
                pl.lit(column).alias("column"),
                pl.col(column).alias("before"),
                pl.col(f"{column}_after").alias("after"),
                # (values are text here: the flag reads "true")
                ((pl.col("_deleted_after") == "true") & (pl.col("_deleted") != "true").fill_null(True))
                .fill_null(False)
                .alias("_tombstone")
                if "_deleted" in data
                else pl.lit(False).alias("_tombstone"),
            )
            for column in data
            if column != "_key"
        ],
        how="vertical_relaxed",
    ) if pairs.height else pl.DataFrame()
    if not long.height:
        return pl.concat([out, whole], how="vertical_relaxed").sort("version", "key")
    changed = long.filter(pl.col("before").ne_missing(pl.col("after")))
    tombstones = changed.filter(pl.col("_tombstone")).unique(["version", "key"]).select(
        "version", "committed_at", pl.lit("tombstone").alias("change"), "key",
        pl.lit(None, pl.String).alias("column"), pl.lit(None, pl.String).alias("before"), pl.lit(None, pl.String).alias("after"),
    )
    updates = changed.filter(~pl.col("_tombstone")).select(
        "version", "committed_at", pl.lit("update").alias("change"), "key", "column", "before", "after"
    )
    return pl.concat([out, whole, updates, tombstones], how="vertical_relaxed").sort("version", "key", "column", nulls_last=False)


def changes(warehouse: Warehouse, name: TableName, keys: Sequence[str], since: datetime) -> pl.DataFrame:
    return describe(raw_changes(warehouse, name, since), keys)


def scd2(feed: pl.DataFrame, keys: Sequence[str], columns: Sequence[str], stamp: str | None) -> pl.DataFrame:
    """A slowly changing dimension (type 2) of `columns` from the change feed: one row per key and
    span of unchanged values, `valid_from` to `valid_to` (null: still valid). Spans start at the
    record's own watermark `stamp` (when the ministry changed it), else at the commit that stored
    it; a tombstone ends the key's last span."""
    versions = feed.filter(pl.col(CHANGE_TYPE).is_in(["insert", "update_postimage"]))
    missing = [c for c in columns if c not in versions.columns]
    if missing:
        raise ChangesError(f"no column(s) {', '.join(missing)} in the table (columns: {', '.join(feed.columns)})")
    start = pl.col(stamp).cast(pl.Datetime("us")) if stamp else pl.col(COMMITTED).cast(pl.Datetime("us"))
    deleted = pl.col("_deleted").fill_null(False) if "_deleted" in versions.columns else pl.lit(False)
    ordered = (
        versions.with_columns(start.alias("valid_from"), deleted.alias("_gone"))
        .sort([*keys, VERSION])
        .with_columns(pl.struct([*columns, "_gone"]).alias("_state"))
        # keep a version only when the tracked values (or the tombstone) changed
        .filter(pl.col("_state").ne_missing(pl.col("_state").shift(1).over(keys)))
        .with_columns(pl.col("valid_from").shift(-1).over(keys).alias("valid_to"))
    )
    return ordered.filter(~pl.col("_gone")).select(*keys, *columns, "valid_from", "valid_to")
