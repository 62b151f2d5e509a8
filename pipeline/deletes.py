"""Delete reconciliation (`deletes: reconcile`): silver's live keys that the source no longer has.

Within a load they are found before the MERGE and tombstoned by it (warehouse.tables.Tombstones:
one rewrite of silver's files); a load with nothing new tombstones them in a commit of its own.
Either way the deletion guard (pipeline/guards.py) refuses a share of deletes too large to be true.
An incremental load reads the source's keys on a thread while it judges its rows (`SourceKeys`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from catalogue import TableRef
from connectors import Connector, ExtractRequest
from connectors.base import IndependentReader, independent_reader
from pipeline.guards import check_deleted_share
from pipeline.mapping import canonical_expressions
from pipeline.names import DELETED, LoadNames
from pipeline.stages import Progress
from pipeline.staging import staged_files
from warehouse.tables import Warehouse


class SourceKeys:
    """The source's key columns, read on a thread of their own while the load judges its rows, so
    that reconcile finds them read: a SQL read mostly waits on its child process and the server
    (connectors/isolated.py), ~1.2 s for 1M keys (docs/performance.md, "The incremental night").

    Prepared as the load begins: the reader's child process starts then, so that its start-up
    (~0.5 s) passes beside the set-up and the extraction. Started once the extraction has ended,
    so the source still sees one connection of this load at a time, and the keys are read after
    the rows, as when reconcile read them itself. Leaving `prepared` ends the reader, read or not.
    """

    def __init__(self, ref: TableRef, reader: IndependentReader) -> None:
        self._ref = ref
        self._reader = reader
        self._batches: list[pa.RecordBatch] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    @contextlib.contextmanager
    def prepared(cls, ref: TableRef, connector: Connector, warehouse: Warehouse) -> Iterator[SourceKeys | None]:
        """The read prepared, for a table that reconciles deletes into an existing silver table and
        whose connector reads apart from itself (`independent_reader`: SQL; never an API's rate
        limit shared between two reads); else None, and reconcile reads the keys when it needs them."""
        reader = independent_reader(connector) if _reconciles(ref, warehouse, LoadNames.of(ref)) else None
        if reader is None:
            yield None
            return
        keys = cls(ref, reader)
        try:
            yield keys
        finally:
            keys._reader.close()

    def start(self) -> None:
        """Read the keys now, on a thread of their own."""
        self._thread = threading.Thread(
            target=self._read, args=(_keys_request(self._ref),), name=f"source keys of {self._ref.key}", daemon=True
        )
        self._thread.start()

    def _read(self, request: ExtractRequest) -> None:
        try:
            self._batches.extend(self._reader.extract(request))
        except BaseException as error:  # raised to the load where it asks for the keys
            self._error = error

    def batches(self) -> list[pa.RecordBatch]:
        """Every batch of the source's keys, once read, handed over (not kept through the MERGE);
        the read's own error if it failed."""
        if self._thread is None:
            self.start()  # not started yet (a load with nothing new): read them now
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        batches, self._batches = self._batches, []
        return batches


def reconcile_deletes(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    run_id: str,
    started: datetime,
    say: Progress,
    read_ahead: SourceKeys | None = None,
) -> tuple[int, int | None]:
    """For `deletes: reconcile`: tombstone silver's live keys the source no longer has (a load with
    nothing new: the source's keys read now, by `read_ahead`'s reader if prepared). Returns (keys
    tombstoned, silver version written or None)."""
    vanished = _gone(ref, connector, warehouse, names, read_ahead=read_ahead)
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
    read_ahead: SourceKeys | None = None,
) -> pl.DataFrame | None:
    """For `deletes: reconcile`, before the MERGE: silver's live keys the source no longer has
    (checked by the deletion guard), for the MERGE to tombstone. None when there are none. The
    source's keys come from `whole_source` (this run's bronze, when it read every row), else from
    `read_ahead`, else they are read now.

    A key this load lands is left out: it was deleted at the source after the rows were read,
    and one MERGE cannot both upsert and tombstone it; the next load tombstones it."""
    vanished = _gone(ref, connector, warehouse, names, whole_source, read_ahead)
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
    whole_source: pl.LazyFrame | None = None,
    read_ahead: SourceKeys | None = None,
) -> pl.DataFrame | None:
    """For `deletes: reconcile`: silver's live keys the source no longer has, once the deletion
    guard has let their share through; None when the table does not reconcile or none are gone."""
    if not _reconciles(ref, warehouse, names):
        return None
    vanished, live_rows = _vanished_keys(ref, connector, warehouse, names, whole_source, read_ahead)
    if not vanished.height:
        return None
    check_deleted_share(ref, live_rows, vanished.height)
    return vanished


def _vanished_keys(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    whole_source: pl.LazyFrame | None,
    read_ahead: SourceKeys | None,
) -> tuple[pl.DataFrame, int]:
    """Keys live in silver that the source no longer has (read: the key columns only), and how
    many keys are live (for the deletion guard), from one read of silver's keys."""
    keys = ref.entity.primary_key
    live = warehouse.scan(names.silver).filter(~pl.col(DELETED).fill_null(False)).select(keys).collect()
    if whole_source is None:
        batches = read_ahead.batches() if read_ahead else list(connector.extract(_keys_request(ref)))
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


def _reconciles(ref: TableRef, warehouse: Warehouse, names: LoadNames) -> bool:
    """Whether the table reconciles deletes and has a silver table to reconcile."""
    return ref.table.deletes == "reconcile" and warehouse.exists(names.silver)


def _keys_request(ref: TableRef) -> ExtractRequest:
    """A read of the table's key columns only (data minimisation), every row."""
    keys = ref.entity.primary_key
    return ExtractRequest(
        source=ref.source.name,
        table=ref.table.table,
        query=ref.table.query,
        columns=tuple(dict.fromkeys(m.source for m in ref.table.columns if m.to in keys)),
    )
