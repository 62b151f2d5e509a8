"""SQL databases through connectorx's Arrow stream: SQLite, PostgreSQL, MySQL/MariaDB, SQL Server, Oracle."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import connectorx as cx
import pyarrow as pa

from connectors.base import ExtractRequest
from connectors.errors import SourceSchemaError, SourceUnreachable


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def build_query(request: ExtractRequest) -> str:
    """The SELECT that extracts one table, filtered on the watermark when a lower bound is known."""
    base = request.query or f"SELECT * FROM {_quote(request.table or '')}"
    if request.watermark_column is None or request.since is None:
        return base
    literal = "'" + request.since.replace("'", "''") + "'"
    return f"SELECT * FROM ({base}) AS src WHERE {_quote(request.watermark_column)} >= {literal}"


@dataclass(frozen=True)
class SqlConnector:
    source: str
    url: str

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        try:
            reader = cx.read_sql(
                self.url, build_query(request), return_type="arrow_stream",
                batch_size=request.batch_rows,
            )
        except RuntimeError as error:
            raise _classify(self.source, error) from error
        yield from reader

    def check(self) -> None:
        try:
            cx.read_sql(self.url, "SELECT 1", return_type="arrow")
        except RuntimeError as error:
            raise _classify(self.source, error) from error


def _classify(source: str, error: Exception) -> Exception:
    message = str(error)
    lowered = message.lower()
    if "no such table" in lowered or "does not exist" in lowered or "doesn't exist" in lowered:
        return SourceSchemaError(source, message, "Check the table or query in the source catalogue.")
    return SourceUnreachable(source, message, "Check that the database is up and the URL is right.")
