"""Delete reconciliation (`deletes: reconcile`): silver's live keys that the source no longer has.

Within a load they are found before the MERGE and tombstoned by it (warehouse.tables.Tombstones:
one rewrite of silver's files); a load with nothing new tombstones them in a commit of its own.
Either way the deletion guard (pipeline/guards.py) refuses a share of deletes too large to be true.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from catalogue import TableRef
from connectors import Connector, ExtractRequest
from pipeline.guards import check_deleted_share
from pipeline.mapping import canonical_expressions
from pipeline.names import DELETED, LoadNames
from pipeline.stages import Progress
from pipeline.staging import staged_files
from warehouse.tables import Warehouse


def reconcile_deletes(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    run_id: str,
    started: datetime,
    say: Progress,
    whole_source: pl.LazyFrame | None = None,
) -> tuple[int, int | None]:
    """For `deletes: reconcile`: tombstone silver's live keys the source no longer has, the source's
    keys taken from `whole_source` (this run's bronze, when it read every row) or read afresh.
    Returns (keys tombstoned, silver version written or None)."""
    vanished = _gone(ref, connector, warehouse, names, whole_source)
    if vanished is None:
        return 0, None
    say(f"{ref.key}: {vanished.height:,} keys no longer in the source; tombstoning them")
    version = warehouse.tombstone(names.silver, vanished, ref.entity.primary_key, run_id, started)
    if names.sensitive is not None and warehouse.exists(names.sensitive):
        warehouse.tombstone(names.sensitive, vanished, ref.entity.primary_key, run_id, started)
    return vanished.height, version


def keys_to_tombstone(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    staging: Path,
    say: Progress,
    whole_source: pl.LazyFrame | None = None,
) -> pl.DataFrame | None:
    """For `deletes: reconcile`, before the MERGE: silver's live keys the source no longer has
    (checked by the deletion guard), for the MERGE to tombstone. None when there are none.

    A key this load lands is left out: it was deleted at the source after the rows were read,
    and one MERGE cannot both upsert and tombstone it; the next load tombstones it."""
    vanished = _gone(ref, connector, warehouse, names, whole_source)
    if vanished is None:
        return None
    landing = staged_files(staging, "silver")
    if landing:
        keys = ref.entity.primary_key
        vanished = vanished.join(pl.scan_parquet(landing).select(keys).collect(), on=keys, how="anti")
    if not vanished.height:
        return None
    say(f"{ref.key}: {vanished.height:,} keys no longer in the source; tombstoning them")
    return vanished


def _gone(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    whole_source: pl.LazyFrame | None,
) -> pl.DataFrame | None:
    """For `deletes: reconcile`: silver's live keys the source no longer has, once the deletion
    guard has let their share through; None when the table does not reconcile or none are gone."""
    if ref.table.deletes != "reconcile" or not warehouse.exists(names.silver):
        return None
    vanished, live_rows = _vanished_keys(ref, connector, warehouse, names, whole_source)
    if not vanished.height:
        return None
    check_deleted_share(ref, live_rows, vanished.height)
    return vanished


def _vanished_keys(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    whole_source: pl.LazyFrame | None = None,
) -> tuple[pl.DataFrame, int]:
    """Keys live in silver that the source no longer has (read: the key columns only), and how
    many keys are live (for the deletion guard), from one read of silver's keys."""
    keys = ref.entity.primary_key
    live = warehouse.scan(names.silver).filter(~pl.col(DELETED).fill_null(False)).select(keys).collect()
    if whole_source is None:
        request = ExtractRequest(
            source=ref.source.name,
            table=ref.table.table,
            query=ref.table.query,
            columns=tuple(dict.fromkeys(m.source for m in ref.table.columns if m.to in keys)),
        )
        batches = list(connector.extract(request))
        if not batches:  # the source table is empty: every live key is gone
            return live, live.height
        whole_source = pl.from_arrow(pa.Table.from_batches(batches)).lazy()  # type: ignore[union-attr]
    # Normalised exactly as the load normalises them, so a key matches its silver row.
    source_keys = whole_source.select(
        expression
        for name, expression in canonical_expressions(ref.table, ref.entity).items()
        if name in keys
    )
    return live.lazy().join(source_keys, on=keys, how="anti").collect(), live.height

