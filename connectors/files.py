"""File drops: a folder of CSV files, read as text in bounded batches, oldest file first."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.base import ExtractRequest
from connectors.errors import SourceSchemaError

FILE_COLUMN = "_file"  # the file a row came from: its watermark and its provenance


@dataclass(frozen=True)
class CsvFolderConnector:
    source: str
    root: Path

    def files(self, request: ExtractRequest) -> list[Path]:
        folder = self.root / (request.table or "")
        if not folder.is_dir():
            raise SourceSchemaError(
                self.source, f"folder {folder} does not exist",
                "Check the connection path and the table name in the source catalogue.",
            )
        found = sorted(folder.glob("*.csv"))
        if request.since is not None:
            found = [path for path in found if path.stem >= request.since]
        return found

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        for path in self.files(request):
            yield from read_csv_batches(path, request.batch_rows)

    def check(self) -> None:
        if not self.root.is_dir():
            raise SourceSchemaError(
                self.source, f"folder {self.root} does not exist",
                "Run `ndc demo` to generate the demo sources, or fix the connection path.",
            )


def read_csv_batches(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Every column as text (ministries' codes keep their leading zeros), plus the file name."""
    header = path.open(encoding="utf-8").readline().rstrip("\r\n").split(",")
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=True
        ),
    )
    for batch in reader:
        for offset in range(0, batch.num_rows, batch_rows):
            part = batch.slice(offset, batch_rows)
            name = pa.array([path.stem] * part.num_rows, pa.string())
            yield part.append_column(FILE_COLUMN, name)
