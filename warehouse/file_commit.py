"""A new Delta table whose first commit adds Parquet files already written, as they are.

A first load used to hand its staged slices to `write_deltalake`, which decoded them and encoded
the same rows again: at 1M citizens 3.7 CPU s, and the load's memory peak, growing with the table
(+256 MiB at 1M, +935 MiB at 10M) as delta-rs buffered what it wrote. The staged slices are
written in the warehouse's own format (`TABLE_PARQUET`: Snappy, statistics, bounded row groups),
so the first load copies them into the table's folder and commits them in one `add` commit, with
the statistics delta-rs itself would have written (numRecords, minValues, maxValues, nullCount:
read from each file's footer) so that file skipping, MERGE's key range and every reader work as
on a table delta-rs wrote. A column whose footer statistics cannot be stated exactly (a nested
type, a decimal, a truncated maximum) gets no min/max: a reader then scans it, never skips wrongly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deltalake import CommitProperties, DeltaTable, Schema
from deltalake.transaction import AddAction, create_table_with_add_actions

if TYPE_CHECKING:  # imported where used: `ndc tables` reaches this module and must start fast
    import pyarrow as pa
    import pyarrow.parquet as pq

    from warehouse.objects import ObjectStore

# Rows per Parquet row group in every file we write for a table, by delta-rs (warehouse.tables.
# STREAMED_WRITES, where the choice is explained) or by Polars (TABLE_PARQUET).
ROW_GROUP_ROWS = 262_144
# How staged slices bound for a table are written (pipeline/staging.py): what delta-rs writes for
# us (Snappy, per-column statistics, the same row groups), so the files can join a table as they are.
TABLE_PARQUET: dict[str, Any] = {"compression": "snappy", "statistics": True, "row_group_size": ROW_GROUP_ROWS}


class TableExists(RuntimeError):
    """The table was created by another writer meanwhile: its rows must be merged, not added."""


def create_table_from_files(
    uri: str,
    files: Sequence[Path],
    store: ObjectStore,
    *,
    storage_options: Mapping[str, str] | None,
    configuration: Mapping[str, str] | None,
    description: str | None,
    commit_properties: CommitProperties,
) -> None:
    """Copy `files` (one schema) into the folder of the table at `uri` and create the table with them
    in its first commit; raises TableExists, leaving no copied file behind, if it exists already."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    copied: list[str] = []
    adds: list[AddAction] = []
    try:
        for file in files:
            footer = pq.read_metadata(file)
            if footer.num_rows == 0:
                continue
            name = f"part-{len(adds):05d}-{uuid.uuid4()}-c000.snappy.parquet"
            copied.append(store.upload_file(file, f"{uri.rstrip('/')}/{name}"))
            adds.append(
                AddAction(
                    path=name,
                    size=file.stat().st_size,
                    partition_values={},
                    modification_time=int(time.time() * 1000),
                    data_change=True,
                    stats=json.dumps(file_stats(footer, schema)),
                )
            )
        create_table_with_add_actions(
            uri,
            Schema.from_arrow(schema),
            adds,
            mode="error",
            description=description,
            configuration=configuration,
            storage_options=dict(storage_options) if storage_options else None,
            commit_properties=commit_properties,
        )
    except BaseException as error:
        # An error (or a ctrl-C / Terminate, raised at the first Python line after delta-rs
        # returns) may come after our commit went through: the table then names the copied
        # files, and removing them would leave it pointing at nothing.
        writer = _who_committed(uri, storage_options, [add.path for add in adds])
        if writer in ("us", None):  # ours, or the store cannot say: keep the files
            raise
        for path in copied:  # best effort: a file left behind is never read (no commit names it)
            with contextlib.suppress(Exception):
                store.delete(path)
        if isinstance(error, Exception) and writer == "another writer":
            raise TableExists(uri) from error  # another writer's first commit won
        raise


def _who_committed(
    uri: str, storage_options: Mapping[str, str] | None, paths: Sequence[str]
) -> Literal["nobody", "us", "another writer"] | None:
    """Who created the table at `uri`: nobody yet, us (it names one of `paths`: file names are new
    UUIDs, only our own commit can name them), or another writer. None when the store cannot say;
    the caller then keeps the files: one left over costs space, one removed from under a commit
    loses the table."""
    import pyarrow as pa

    options = dict(storage_options) if storage_options else None
    try:
        if not DeltaTable.is_deltatable(uri, storage_options=options):
            return "nobody"
        named = pa.table(DeltaTable(uri, storage_options=options).get_add_actions()).column("path").to_pylist()
    except Exception:
        return None
    return "another writer" if set(paths).isdisjoint(named) else "us"


def file_stats(footer: pq.FileMetaData, schema: pa.Schema) -> dict[str, Any]:
    """The Delta statistics of one Parquet file, from its footer: as delta-rs writes them."""
    columns = {footer.schema.column(i).path: i for i in range(footer.num_columns)}
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field in schema:
        index = columns.get(field.name)  # a nested column has only dotted leaf paths: no statistics
        if index is None:
            continue
        chunks = [footer.row_group(g).column(index).statistics for g in range(footer.num_row_groups)]
        if not chunks or any(s is None or s.null_count is None for s in chunks):
            continue
        nulls[field.name] = sum(s.null_count for s in chunks)
        bounded = [s for s in chunks if s.has_min_max]
        if not bounded or not _states_exactly(field.type):
            continue
        if not all(getattr(s, "is_max_value_exact", True) and getattr(s, "is_min_value_exact", True) for s in bounded):
            continue  # a truncated bound (long strings): no skipping on this column
        low, high = min(s.min for s in bounded), max(s.max for s in bounded)
        if isinstance(low, float) and (math.isnan(low) or math.isnan(high)):
            continue
        minimum[field.name], maximum[field.name] = _json_value(low, field.type), _json_value(high, field.type)
    return {"numRecords": footer.num_rows, "minValues": minimum, "maxValues": maximum, "nullCount": nulls}


def _states_exactly(kind: pa.DataType) -> bool:
    """Types whose footer bounds we write as delta-rs does; any other gets a null count only."""
    import pyarrow as pa

    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date32(kind)
        or (pa.types.is_timestamp(kind) and kind.unit in ("ms", "us"))
    )


def _json_value(value: Any, kind: pa.DataType) -> Any:
    if isinstance(value, dt.datetime):
        # Millisecond precision, cut as delta-rs cuts it (the Delta protocol's stats format).
        if kind.tz is None:  # timestamp_ntz: "2024-11-01 00:05:50.123"
            return value.isoformat(sep=" ", timespec="milliseconds")
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
