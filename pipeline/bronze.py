"""The bronze side of one load: the extracted batches as one stream with the load's own columns
added (row, run id, ingest time, source table), checked for schema drift before anything is
written and counted as they go; the extent of what this run extracted, which must be every row
the stream sent; and this run's rows read back in bounded slices."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import pyarrow as pa

from catalogue import TableRef
from connectors import SourceSchemaError
from pipeline.guards import check_types, column_changes
from pipeline.names import INGESTED_AT, LOAD_COLUMNS, ROW, SOURCE_TABLE
from pipeline.stages import Progress
from warehouse.tables import RUN_ID

CHUNK_ROWS = 250_000  # rows judged at a time: bounds a load's memory whatever the table's size


class BronzeMismatch(RuntimeError):
    """Bronze holds another number of this run's rows than the extraction sent."""


@dataclass
class Sent:
    """What the extraction sent as it streamed into bronze: its rows, counted from the source's
    stream itself rather than from what bronze came to hold (the load's rows in), and the error
    that ended it early, if one did."""

    rows: int = 0
    error: BaseException | None = None

    def check(self, in_bronze: int, table: str) -> None:
        """Bronze must hold exactly the rows sent: every later count (landed, quarantined) starts there."""
        if in_bronze != self.rows:
            raise BronzeMismatch(
                f"{table} holds {in_bronze:,} rows of this run, the extraction sent {self.rows:,}: "
                "another writer wrote rows of this run meanwhile. Nothing was merged; run the load again."
            )

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around the write that drains the stream: an error the stream raised (the source timed
        out, the connection dropped, ctrl-C) reaches the caller as itself. The writer, delta-rs,
        would turn it into a DeltaError holding its traceback as text: a frozen source read as a
        storage failure, a ctrl-C as a failed run instead of a stopped one."""
        try:
            yield
        except BaseException:
            if self.error is not None:
                raise self.error from None
            raise


def bronze_stream(
    ref: TableRef,
    batches: Iterator[pa.RecordBatch],
    run_id: str,
    ingested_at: datetime,
    bronze: pa.Schema | None = None,
    say: Progress | None = None,
    sent: Sent | None = None,
) -> pa.RecordBatchReader | None:
    """The extracted batches plus load columns, checked against the mapping and against bronze's
    column types before anything is written (schema drift: pipeline/guards.py); `sent` counts
    the rows as the writer takes them and keeps the error that ends the stream early."""
    first = next((batch for batch in batches if batch.num_rows), None)
    if first is None:
        return None
    missing = [c for c in ref.table.source_columns if c not in first.schema.names]
    if missing:
        raise SourceSchemaError(
            ref.source.name,
            f"table '{ref.table.table or ref.table.name}' has no column(s) {', '.join(missing)} "
            f"(it has: {', '.join(first.schema.names)})",
            "Fix the column mapping in the catalogue or ask the ministry about the schema change; nothing was written.",
        )
    check_types(ref, first.schema, bronze)
    added, dropped = column_changes(first.schema, bronze, LOAD_COLUMNS)
    if say is not None and added:
        say(f"{ref.key}: new source column(s) {', '.join(added)}: kept in bronze, not mapped to silver")
    if say is not None and dropped:
        say(f"{ref.key}: column(s) {', '.join(dropped)} no longer sent (not mapped): null in bronze from now on")
    schema = (
        first.schema.append(pa.field(ROW, pa.int64()))
        .append(pa.field(RUN_ID, pa.string()))
        .append(pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC")))
        .append(pa.field(SOURCE_TABLE, pa.string()))
    )

    # The constant columns are made by Arrow from one scalar each: a Python list of a million
    # references (a million datetimes to convert) cost ~1.5 CPU s a million rows.
    constants = [
        pa.scalar(run_id, pa.string()),
        pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")),
        pa.scalar(ref.key, pa.string()),
    ]

    def with_load_columns() -> Iterator[pa.RecordBatch]:
        offset = 0
        try:
            for batch in itertools.chain([first], batches):
                n = batch.num_rows
                columns = [
                    *batch.columns,
                    pl.int_range(offset, offset + n, dtype=pl.Int64, eager=True).to_arrow(),
                    *(pa.repeat(value, n) for value in constants),
                ]
                offset += n
                if sent is not None:
                    sent.rows = offset
                yield pa.RecordBatch.from_arrays(columns, schema=schema)
        except GeneratorExit:  # the writer let go of the stream: not an error of the extraction
            raise
        except BaseException as error:
            if sent is not None:
                sent.error = error
            raise

    return pa.RecordBatchReader.from_batches(schema, with_load_columns())


def extent(ref: TableRef, this_run: pl.LazyFrame) -> tuple[int, str | None, str | None]:
    """Rows extracted by this run, and the range of their watermark."""
    column = ref.table.watermark
    stamp = pl.col(column).cast(pl.String) if column else pl.lit(None, pl.String)
    rows, low, high = (
        this_run.select(pl.len(), stamp.min().alias("low"), stamp.max().alias("high")).collect().row(0)
    )
    return int(rows), low, high


def slice_of(this_run: pl.LazyFrame, first: int) -> pl.LazyFrame:
    return this_run.filter(pl.col(ROW).is_between(first, first + CHUNK_ROWS - 1))

