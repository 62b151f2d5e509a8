"""What every connector promises: bounded Arrow record batches from one source table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

DEFAULT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class ExtractRequest:
    """One table's extraction: which rows, in what batch size.

    `since` is inclusive: the pipeline subtracts its look-back window before asking, and MERGE
    absorbs the overlap, so a late-committed row is never missed. `until` is exclusive, so that
    consecutive windows [since, until) never overlap nor leave a gap.
    """

    source: str
    table: str | None = None  # a table name in the source, or
    query: str | None = None  # a query of the source's own dialect
    watermark_column: str | None = None
    since: str | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS
    until: str | None = None
    columns: tuple[str, ...] | None = None  # only these columns (data minimisation); None = all
    timeout_s: float | None = None  # per-query limit where the source supports one
    partition_on: str | None = None  # an integer column to split a large read on (SQL only)
    partitions: int = 1  # parallel reads over `partition_on`; 1 = one sequential stream


class Connector(Protocol):
    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """Yield the rows as record batches of at most `request.batch_rows` rows."""
        ...

    def check(self) -> None:
        """Raise a SourceError when the source cannot be reached or read."""
        ...


class IndependentReader(Protocol):
    """One read of a connector's, apart from its others and prepared ahead (SqlConnector.independent_reader:
    its reading process started, connected to nothing until it reads)."""

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]: ...

    def close(self) -> None: ...


def independent_reader(connector: Connector) -> IndependentReader | None:
    """A reader prepared now for one read of `connector`'s, where its reads are apart from each
    other (SQL: a child process and connection each; never an API whose rate limit two reads would
    share); else None."""
    prepare = getattr(connector, "independent_reader", None)
    return prepare() if prepare is not None else None


@contextlib.contextmanager
def prepared_read(connector: Connector) -> Iterator[Connector | IndependentReader]:
    """What to make one read with: a reader prepared now where the connector has one (its start-up
    then passes beside the caller's work until the read), else the connector. Leaving ends it."""
    reader = independent_reader(connector)
    if reader is None:
        yield connector
        return
    try:
        yield reader
    finally:
        reader.close()


def bounded(batches: Iterable[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The same rows, re-sliced so that no batch exceeds `batch_rows` (slices share memory)."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    for batch in batches:
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)

