"""What every connector promises: bounded Arrow record batches from one source table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

DEFAULT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class ExtractRequest:
    """One table's extraction: which rows, in what batch size.

    `since` is inclusive: the pipeline subtracts its look-back window before asking, and MERGE
    absorbs the overlap, so a late-committed row is never missed.
    """

    source: str
    table: str | None = None  # a table name in the source, or
    query: str | None = None  # a query of the source's own dialect
    watermark_column: str | None = None
    since: str | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS


class Connector(Protocol):
    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """Yield the rows as record batches of at most `request.batch_rows` rows."""
        ...

    def check(self) -> None:
        """Raise a SourceError when the source cannot be reached or read."""
        ...
