"""Rows of loads that never committed: hidden from readers, removed by maintenance.

A load writes bronze, then quarantine, then silver, then its load record (`ops.pipeline.loads`),
each in its own Delta commit: Delta has no transaction across tables. A load killed after bronze
leaves the rows it wrote there (and in quarantine) under a run id that has no load record. Silver
is safe (its MERGE is the last data commit and the next run repeats it), but the raw zones would
show those rows, and a re-run adds them again under its own run id.

So a run's rows in bronze and quarantine count only once its load record exists: `ndc sql` reads
those layers through a filter on the record's run ids (warehouse/sql.py), and the maintenance job
deletes the rows of runs that have had no record for longer than any load runs (`remove_orphans`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from warehouse.commit import with_commit_retry
from warehouse.tables import RUN_ID, TableName, Warehouse

LOADS = TableName("ops", "pipeline", "loads")  # one row per committed load: the run ids that count
# The layers whose rows are written before the load record, keyed by run id.
RUN_SCOPED_LAYERS = ("bronze", "quarantine")
# When a run's rows were written: the raw rows carry their ingestion time, quarantined files theirs.
WRITTEN_AT = ("_ingested_at", "_quarantined_at")
# No load runs this long: rows without a record older than this belong to a run that died.
ORPHAN_GRACE = timedelta(hours=24)


def is_run_scoped(name: TableName) -> bool:
    return name.layer in RUN_SCOPED_LAYERS


def committed_run_ids(warehouse: Warehouse) -> pl.LazyFrame:
    """The run ids that have a load record (one column, RUN_ID)."""
    if not warehouse.exists(LOADS):
        return pl.LazyFrame(schema={RUN_ID: pl.String})
    return warehouse.scan(LOADS).select(RUN_ID).unique()


@dataclass(frozen=True)
class Orphans:
    table: str
    run_ids: tuple[str, ...]
    rows: int


def find_orphans(warehouse: Warehouse, name: TableName, *, now: datetime | None = None,
                 grace: timedelta = ORPHAN_GRACE) -> Orphans:
    """Runs with rows in `name`, no load record, and nothing written within `grace`: dead runs
    (a run still loading has written within the grace period, so it is never taken for dead)."""
    rows = warehouse.scan(name)
    schema = rows.collect_schema()
    written = next((column for column in WRITTEN_AT if column in schema), None)
    if RUN_ID not in schema or written is None:
        return Orphans(str(name), (), 0)
    cutoff = (now or datetime.now(UTC)) - grace
    runs = (
        rows.join(committed_run_ids(warehouse), on=RUN_ID, how="anti")
        .group_by(RUN_ID)
        .agg(pl.len().alias("rows"), pl.col(written).max().alias("last_written"))
        .filter(pl.col("last_written") < cutoff)
        .sort(RUN_ID)
        .collect()
    )
    return Orphans(str(name), tuple(runs[RUN_ID].to_list()), int(runs["rows"].sum()))


def remove_orphans(warehouse: Warehouse, name: TableName, *, now: datetime | None = None,
                   grace: timedelta = ORPHAN_GRACE) -> Orphans:
    """Delete the rows of dead runs from `name` (one Delta commit); what was removed."""
    orphans = find_orphans(warehouse, name, now=now, grace=grace)
    if orphans.run_ids:
        listed = ", ".join("'" + run_id.replace("'", "''") + "'" for run_id in orphans.run_ids)
        with_commit_retry(lambda: warehouse.table(name).delete(f"{RUN_ID} IN ({listed})"))
    return orphans
