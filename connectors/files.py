"""File drops: CSV, Excel, Parquet and JSON-lines files in a local folder or an S3 prefix.

Layout: `<root>/<table>/<file>`; a file's name is its watermark (`2024-07.csv`), so files are read
in name order and a sensor keeps the last name it saw as its cursor (`list_files(since)`).
Every row carries `_file`, the file it came from. A file that cannot be parsed raises
`MalformedFile` naming it before any of its rows are yielded, so the pipeline can quarantine that
file whole; `read_file` lets a caller go on with the next one. Memory: one file at a time
(a file is the unit that lands or is quarantined), sliced into batches of `batch_rows`.

CSV and Excel columns are read as text (ministry codes keep their leading zeros); Parquet keeps
its own types; JSON lines get the types the values have.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from connectors.base import ExtractRequest, bounded
from connectors.errors import MalformedFile, SourceAuthError, SourceSchemaError, SourceUnreachable

FILE_COLUMN = "_file"  # the file a row came from: its watermark and its provenance
FORMATS = {".csv": "csv", ".xlsx": "excel", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FileLabel = Literal["name", "stem"]


class FileStore(Protocol):
    """Where the files lie: names in one folder, and a local path to read each from."""

    def names(self, folder: str) -> list[str]: ...

    def local_copy(self, folder: str, name: str) -> Any: ...  # a context manager yielding a Path

    def describe(self, folder: str) -> str: ...


@dataclass(frozen=True)
class LocalStore:
    root: Path
    source: str

    def names(self, folder: str) -> list[str]:
        directory = self.root / folder
        if not directory.is_dir():
            raise SourceSchemaError(
                self.source, f"folder {directory} does not exist",
                "Check the connection path and the table name in the source catalogue.",
            )
        return [path.name for path in directory.iterdir() if path.is_file()]

    def local_copy(self, folder: str, name: str) -> Any:
        from contextlib import nullcontext

        return nullcontext(self.root / folder / name)

    def describe(self, folder: str) -> str:
        return str(self.root / folder)


@dataclass(frozen=True)
class S3Store:
    """An S3 (or S3-compatible: SeaweedFS, MinIO) prefix; credentials from the usual AWS variables."""

    uri: str
    source: str
    endpoint_url: str | None = None
    region: str | None = None
    client: Any = field(default=None, compare=False, repr=False)

    @property
    def bucket(self) -> str:
        return urlsplit(self.uri).netloc

    def key_prefix(self, folder: str) -> str:
        parts = [urlsplit(self.uri).path.strip("/"), folder.strip("/")]
        return "/".join(part for part in parts if part) + "/"

    def _client(self) -> Any:
        if self.client is not None:
            return self.client
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
        )
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config)

    def names(self, folder: str) -> list[str]:
        prefix = self.key_prefix(folder)
        try:
            pages = self._client().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            return [
                item["Key"][len(prefix):] for page in pages for item in page.get("Contents", [])
                if not item["Key"].endswith("/")
            ]
        except Exception as error:
            raise _s3_error(self.source, f"s3://{self.bucket}/{prefix}", error) from None

    def local_copy(self, folder: str, name: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def downloaded() -> Iterator[Path]:
            key = self.key_prefix(folder) + name
            with tempfile.TemporaryDirectory(prefix="ndc-drop-") as scratch:
                target = Path(scratch) / name
                try:
                    self._client().download_file(self.bucket, key, str(target))
                except Exception as error:
                    raise _s3_error(self.source, f"s3://{self.bucket}/{key}", error) from None
                yield target

        return downloaded()

    def describe(self, folder: str) -> str:
        return f"s3://{self.bucket}/{self.key_prefix(folder)}"


def _s3_error(source: str, where: str, error: Exception) -> Exception:
    code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
    text = f"{where}: {code or type(error).__name__} {error}".strip()
    if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401"} or (
        type(error).__name__ in {"NoCredentialsError", "PartialCredentialsError"}
    ):
        return SourceAuthError(source, f"S3 refused access to {text}",
                               "Check the AWS credentials and the bucket policy for this source.")
    if code in {"NoSuchBucket", "NoSuchKey", "404"}:
        return SourceSchemaError(source, f"not found: {text}", "Check s3_uri and the table folder name.")
    return SourceUnreachable(source, f"S3 request failed for {text}",
                             "Check endpoint_url and that the object store is up; the load will be retried.")


@dataclass(frozen=True)
class FileDropConnector:
    source: str
    store: FileStore
    formats: tuple[str, ...] = tuple(sorted(set(FORMATS.values())))
    label: FileLabel = "name"  # `_file` holds the file name, or its stem (the legacy csv_folder)

    def file_label(self, name: str) -> str:
        return Path(name).stem if self.label == "stem" else name

    def list_files(self, since: str | None = None, table: str | None = None) -> list[str]:
        """Files of a readable format newer than the cursor `since` (exclusive), in name order."""
        found = sorted(
            name for name in self.store.names(table or "")
            if FORMATS.get(Path(name).suffix.lower()) in self.formats and not name.startswith(".")
        )
        return [name for name in found if since is None or self.file_label(name) > since]

    def files_in(self, request: ExtractRequest, *, include_since: bool = True) -> list[str]:
        """The files whose label is in [since, until), oldest first; with `include_since=False` the
        window is (since, until): `since` is then a cursor, the newest file already read."""
        names = self.list_files(since=None if include_since else request.since, table=request.table)
        return [
            name for name in names
            if (request.since is None or self.file_label(name) >= request.since)
            and (request.until is None or self.file_label(name) < request.until)
        ]

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """Every file in [since, until) by name, oldest first; raises MalformedFile on a bad one."""
        for name in self.files_in(request):
            yield from self.read_file(name, request)

    def read_file(self, name: str, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """One file's rows (with `_file`), parsed in full before the first batch is yielded."""
        shown = self.store.describe(request.table or "").rstrip("/") + "/" + name
        with self.store.local_copy(request.table or "", name) as path:
            try:
                table = read_table(Path(path))
                if request.columns:
                    table = table.select(list(request.columns))
            except MalformedFile:
                raise
            except KeyError as error:
                raise SourceSchemaError(
                    self.source, f"file {shown} has no column {error}",
                    "Check the column names in the source catalogue against the file's header.",
                ) from None
            except (pa.ArrowException, ValueError, UnicodeDecodeError, OSError, csv.Error) as error:
                raise MalformedFile(self.source, name, _reason(error)) from None
        labels = pa.array([self.file_label(name)] * table.num_rows, pa.string())
        table = table.append_column(FILE_COLUMN, labels)
        yield from bounded(table.to_batches(max_chunksize=request.batch_rows), request.batch_rows)

    def check(self) -> None:
        self.store.names("")


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:300] + "…") if len(text) > 300 else (text or type(error).__name__)


def read_table(path: Path) -> pa.Table:
    """A whole file as an Arrow table; ValueError/ArrowException when it cannot be parsed."""
    kind = FORMATS.get(path.suffix.lower())
    if kind == "csv":
        return read_csv(path)
    if kind == "excel":
        return read_excel(path)
    if kind == "parquet":
        return pq.read_table(path)
    if kind == "jsonl":
        if path.stat().st_size == 0:
            return pa.table({})
        return pajson.read_json(path)
    raise ValueError(f"unsupported file type '{path.suffix}'")


def read_csv(path: Path) -> pa.Table:
    """UTF-8 CSV with a header; every column as text."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ValueError("the file is empty (no header row)")
    if len(set(header)) != len(header):
        raise ValueError(f"duplicate column names in the header: {header}")
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
        ),
    )


def read_excel(path: Path) -> pa.Table:
    """The first sheet of an .xlsx workbook, every column as text."""
    import polars as pl

    try:
        frame = pl.read_excel(path, infer_schema_length=0, raise_if_empty=False)
    except Exception as error:  # fastexcel raises its own exception types for broken workbooks
        raise ValueError(f"not a readable .xlsx workbook: {error}") from None
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    return table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))


def file_drop_from_settings(source: str, settings: Mapping[str, Any]) -> FileDropConnector:
    """`path: <folder>` or `s3_uri: s3://bucket/prefix` (+ `endpoint_url`, `region`); `formats`."""
    if "s3_uri" in settings:
        store: FileStore = S3Store(
            str(settings["s3_uri"]), source, settings.get("endpoint_url"), settings.get("region")
        )
    elif "path" in settings:
        store = LocalStore(Path(str(settings["path"])), source)
    else:
        raise SourceSchemaError(source, "a file_drop connection needs `path` or `s3_uri`",
                                "Add one of them to the connection in the source catalogue.")
    formats = tuple(settings.get("formats", FileDropConnector.formats))
    return FileDropConnector(source, store, formats)


def csv_folder(source: str, root: Path) -> FileDropConnector:
    """The first version's `csv_folder` kind: CSV only, `_file` = the name without `.csv`."""
    return FileDropConnector(source, LocalStore(root, source), ("csv",), "stem")


CsvFolderConnector = csv_folder
