"""File drops: CSV, Excel, Parquet and JSON-lines files in a local folder or an S3 prefix.

Layout: `<root>/<table>/<file>`. Every row carries `_file`, the file it came from. A file is a
*version* (`DropFile`: name, size, modification time, and the ETag on S3): the pipeline records
the versions it has read, with a digest of their content, so each version is read exactly once,
whatever order the names sort in; a file re-sent under the same name with new content is read
again, one merely touched is not.

A file is read only once it is *ready*: declared complete by its marker (`<name><complete_marker>`,
e.g. `2024-07.csv.done`, no older than the file) when the drop declares one, else unchanged for
`settle_s` seconds (default 60 in a folder, 0 on S3, whose objects appear whole), so a file still
being written is left for a later run. Only
regular files are read: symlinks, devices and pipes in a drop folder are skipped with a warning
and never opened (a symlink could point at any file the loader can read).

A file that cannot be parsed, or whose header is not the declared one, raises `MalformedFile`
naming it before any of its rows are yielded, so the pipeline can quarantine that file whole;
`read_file` lets a caller go on with the next one. Memory: one file at a time (a file is the unit
that lands or is quarantined), sliced into batches of `batch_rows`.

CSV and Excel columns are read as text (ministry codes keep their leading zeros); Parquet keeps
its own types; JSON lines get the types the values have.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import logging
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from connectors.base import ExtractRequest, bounded
from connectors.encodings import ENCODINGS, SAMPLE_BYTES, decode_text, detect_encoding
from connectors.errors import MalformedFile, SourceAuthError, SourceSchemaError, SourceUnreachable
from connectors.staging import scratch_dir

FILE_COLUMN = "_file"  # the file a row came from: its watermark and its provenance
FORMATS = {".csv": "csv", ".xlsx": "excel", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_SETTLE_S = 60.0  # a local file unchanged this long is taken as completely written
# An S3 object is listed only once its upload has completed, whole: it needs no settling.
DEFAULT_S3_SETTLE_S = 0.0
FileLabel = Literal["name", "stem"]
log = logging.getLogger("ndc.connectors.files")


@dataclass(frozen=True, order=True)
class DropFile:
    """One version of one dropped file: a new size, time or ETag under the same name is a new version."""

    name: str
    size: int
    modified_ns: int  # modification time (local) or LastModified (S3), ns since the epoch, UTC
    etag: str = ""  # S3's content tag; empty for local files

    def record(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "modified_ns": self.modified_ns, "etag": self.etag}


@dataclass(frozen=True)
class Listing:
    """What a drop folder holds: regular files, and the entries that are not (never read)."""

    files: list[DropFile]
    not_regular: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DropListing:
    """The readable files of one folder, by name: ready to read, still arriving, or refused."""

    ready: list[DropFile]
    waiting: list[DropFile]
    not_regular: list[str]


class NotARegularFile(OSError):
    """An entry of a drop folder that is a symlink, device or pipe: it is never opened."""


class FileStore(Protocol):
    """Where the files lie: the entries of one folder, and a local path to read each from."""

    def listing(self, folder: str) -> Listing: ...

    def local_copy(self, folder: str, name: str) -> Any: ...  # a context manager yielding a Path

    def describe(self, folder: str) -> str: ...


@dataclass(frozen=True)
class LocalStore:
    root: Path
    source: str

    def listing(self, folder: str) -> Listing:
        directory = self.root / folder
        if not directory.is_dir():
            raise SourceSchemaError(
                self.source, f"folder {directory} does not exist",
                "Check the connection path and the table name in the source catalogue.",
            )
        if folder and directory.is_symlink():
            # The configured root may be a link (an operator's choice); a table folder inside the
            # drop, writable by whoever drops files, may not: it could lead anywhere.
            raise SourceSchemaError(
                self.source, f"folder {directory} is a symlink; its files are not read",
                "Replace the link with a real folder inside the drop (or point `path` at the target).",
            )
        files: list[DropFile] = []
        not_regular: list[str] = []
        with os.scandir(directory) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)  # lstat: a symlink is judged, not followed
                if stat.S_ISREG(info.st_mode):
                    files.append(DropFile(entry.name, info.st_size, info.st_mtime_ns))
                elif not stat.S_ISDIR(info.st_mode):  # subfolders are simply not part of the layout
                    not_regular.append(entry.name)
        return Listing(files, not_regular)

    def local_copy(self, folder: str, name: str) -> Any:
        return _regular_file(self.root / folder, name)

    def describe(self, folder: str) -> str:
        return str(self.root / folder)


@contextmanager
def _regular_file(directory: Path, name: str) -> Iterator[Path]:
    """The file `name` directly in `directory`, opened without following a symlink (neither the
    file nor the table folder) and only if it is a regular file.

    The check and the read use one open file (through /proc/self/fd where there is one), so a
    file swapped for a symlink after the listing is still refused.
    """
    path = directory / name
    if "/" in name or name in {"", ".", ".."}:
        raise NotARegularFile(f"{path}: '{name}' is not a file name in the drop folder; not read")
    nofollow = os.O_RDONLY | os.O_NOFOLLOW
    try:
        folder = os.open(directory, nofollow | os.O_DIRECTORY)
        try:
            handle = os.open(name, nofollow | getattr(os, "O_NONBLOCK", 0), dir_fd=folder)
        finally:
            os.close(folder)
    except OSError as error:
        if error.errno in {errno.ELOOP, errno.EMLINK, errno.ENOTDIR}:  # O_NOFOLLOW met a symlink
            raise NotARegularFile(f"{path} is a symlink; not read") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise NotARegularFile(f"{path} is not a regular file; not read")
        through_handle = Path(f"/proc/self/fd/{handle}")
        yield through_handle if through_handle.exists() else path
    finally:
        os.close(handle)


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

    def listing(self, folder: str) -> Listing:
        prefix = self.key_prefix(folder)
        try:
            pages = self._client().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            return Listing([
                DropFile(
                    item["Key"][len(prefix):], int(item["Size"]),
                    int(item["LastModified"].timestamp() * 1_000_000) * 1000, str(item.get("ETag", "")),
                )
                for page in pages for item in page.get("Contents", [])
                if not item["Key"].endswith("/")
            ])
        except Exception as error:
            raise _s3_error(self.source, f"s3://{self.bucket}/{prefix}", error) from None

    def local_copy(self, folder: str, name: str) -> Any:
        @contextmanager
        def downloaded() -> Iterator[Path]:
            key = self.key_prefix(folder) + name
            # A private folder swept after a kill: a drop file holds personal data.
            with scratch_dir("drop") as scratch:
                target = scratch / Path(name).name
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
    settle_s: float = DEFAULT_SETTLE_S  # unchanged this long = completely written
    complete_marker: str | None = None  # e.g. ".done": `<name>.done` declares `<name>` complete
    encoding: str = "auto"  # of CSV files: detected, or declared (connectors/encodings.py)

    def file_label(self, name: str) -> str:
        return Path(name).stem if self.label == "stem" else name

    def is_data(self, name: str) -> bool:
        """A file of a readable format; dot-files are the temporary names writers use while copying."""
        return FORMATS.get(Path(name).suffix.lower()) in self.formats and not name.startswith(".")

    def drop_listing(self, table: str | None = None, *, now_ns: int | None = None) -> DropListing:
        """The folder's data files by name, split into ready and still-arriving; non-regular
        entries are listed apart (and logged) so that nobody reads them."""
        listing = self.store.listing(table or "")
        for name in listing.not_regular:
            log.warning("%s: %s is not a regular file (a symlink, device or pipe); it is never read",
                        self.source, self.store.describe(table or "").rstrip("/") + "/" + name)
        found = sorted(file for file in listing.files if self.is_data(file.name))
        markers = {file.name: file for file in listing.files} if self.complete_marker else {}
        now = time.time_ns() if now_ns is None else now_ns
        ready = [file for file in found if self._is_ready(file, markers, now)]
        waiting = [file for file in found if file not in ready]
        return DropListing(ready, waiting, sorted(listing.not_regular))

    def _is_ready(self, file: DropFile, markers: Mapping[str, DropFile], now_ns: int) -> bool:
        if self.complete_marker:
            # The marker must be at least as new as the file: a re-sent file is not complete
            # under the marker of its previous version.
            marker = markers.get(file.name + self.complete_marker)
            return marker is not None and marker.modified_ns >= file.modified_ns
        return now_ns - file.modified_ns >= self.settle_s * 1e9

    def waiting_for(self) -> str:
        """What a file that is not ready yet waits for, in words (for logs and the sensor)."""
        if self.complete_marker:
            return f"its completion marker (<name>{self.complete_marker}, no older than the file)"
        return f"{self.settle_s:g} s without a change (settle_s)"

    def list_files(self, since: str | None = None, table: str | None = None) -> list[str]:
        """Ready files of a readable format whose label is after `since` (exclusive), in name order."""
        found = [file.name for file in self.drop_listing(table).ready]
        return [name for name in found if since is None or self.file_label(name) > since]

    def in_window(self, name: str, request: ExtractRequest) -> bool:
        """Whether a file's label is in [since, until)."""
        label = self.file_label(name)
        return (request.since is None or label >= request.since) and (
            request.until is None or label < request.until
        )

    def files_in(self, request: ExtractRequest, *, include_since: bool = True) -> list[str]:
        """The ready files whose label is in [since, until), oldest first; with `include_since=False`
        the window is (since, until)."""
        names = self.list_files(since=None if include_since else request.since, table=request.table)
        return [name for name in names if self.in_window(name, request)]

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """Every ready file in [since, until) by name, oldest first; raises MalformedFile on a bad one."""
        for name in self.files_in(request):
            yield from self.read_file(name, request)

    def read_file(
        self, name: str, request: ExtractRequest, *, header: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """One file's rows (with `_file`), parsed in full before the first batch is yielded.

        With `header`, the file must have exactly those columns (in any order; they come out in
        this order): a file with a column missing or one more is malformed, and is quarantined
        whole rather than failing the load of every file of its table. Raises NotARegularFile
        for a symlink or special file, without reading it.
        """
        with self.store.local_copy(request.table or "", name) as path:
            table = self._parse(name, Path(path), request, header)
        yield from bounded(table.to_batches(max_chunksize=request.batch_rows), request.batch_rows)

    def read_version(
        self, file: DropFile, request: ExtractRequest, *, header: Sequence[str] | None = None
    ) -> VersionRead:
        """One listed version: its batches (or why it is malformed) and its content digest.

        The digest (sha256 of the bytes; the ETag on S3) lets a later load recognise the same
        content under a new modification time (a file touched or copied again) and not read it
        twice. It is left empty when the file changed while it was read: what was parsed is
        then not known to be those bytes.
        """
        with self.store.local_copy(request.table or "", file.name) as path:
            digest = file.etag or _sha256(Path(path))
            try:
                table, malformed = self._parse(file.name, Path(path), request, header), None
            except MalformedFile as bad:
                table, malformed = None, bad
            if not file.etag and not _is_version(Path(path), file):
                digest = ""
        batches = (
            list(bounded(table.to_batches(max_chunksize=request.batch_rows), request.batch_rows))
            if table is not None else []
        )
        return VersionRead(batches, digest, malformed)

    def digest(self, file: DropFile, table: str | None) -> str:
        """The content digest of a listed version (see read_version); empty if it is changing."""
        if file.etag:
            return file.etag
        with self.store.local_copy(table or "", file.name) as path:
            digest = _sha256(Path(path))
            return digest if _is_version(Path(path), file) else ""

    def file_bytes(self, file: DropFile, table: str | None) -> bytes:
        """The file's content byte for byte (to quarantine a file that could not be parsed);
        NotARegularFile when it is no longer a regular file."""
        with self.store.local_copy(table or "", file.name) as path:
            return Path(path).read_bytes()

    def _parse(
        self, name: str, path: Path, request: ExtractRequest, header: Sequence[str] | None
    ) -> pa.Table:
        shown = self.store.describe(request.table or "").rstrip("/") + "/" + name
        try:
            table = read_table(path, FORMATS.get(Path(name).suffix.lower()), self.encoding)
            if header is not None:
                table = table.select(_matching_header(table.column_names, header))
            elif request.columns:
                table = table.select(list(request.columns))
        except MalformedFile:
            raise
        except HeaderMismatch as mismatch:
            raise MalformedFile(self.source, name, str(mismatch)) from None
        except KeyError as error:
            raise SourceSchemaError(
                self.source, f"file {shown} has no column {error}",
                "Check the column names in the source catalogue against the file's header.",
            ) from None
        except (pa.ArrowException, ValueError, UnicodeDecodeError, OSError, csv.Error) as error:
            raise MalformedFile(self.source, name, _reason(error)) from None
        labels = pa.array([self.file_label(name)] * table.num_rows, pa.string())
        return table.append_column(FILE_COLUMN, labels)

    def check(self) -> None:
        self.store.listing("")


@dataclass(frozen=True)
class VersionRead:
    """One file version, read: its rows, or why it is malformed; and its content digest."""

    batches: list[pa.RecordBatch]
    digest: str
    malformed: MalformedFile | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_version(path: Path, file: DropFile) -> bool:
    """Whether the open file still has the listed size and modification time (nothing was
    written to it since it was listed)."""
    info = os.stat(path)
    return info.st_size == file.size and info.st_mtime_ns == file.modified_ns


class HeaderMismatch(ValueError):
    """A file's columns are not the declared ones."""


def _matching_header(found: Sequence[str], declared: Sequence[str]) -> list[str]:
    """The declared columns, in declared order, when the file has exactly those; else HeaderMismatch
    naming what is missing and what is extra."""
    missing = [column for column in declared if column not in found]
    extra = [column for column in found if column not in declared]
    if missing or extra:
        parts = [f"missing column(s) {', '.join(missing)}" if missing else "",
                 f"extra column(s) {', '.join(extra)}" if extra else ""]
        raise HeaderMismatch(
            "header does not match the catalogue: " + "; ".join(p for p in parts if p)
            + f" (expected: {', '.join(declared)})"
        )
    return list(declared)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:300] + "…") if len(text) > 300 else (text or type(error).__name__)


def read_table(path: Path, kind: str | None = None, encoding: str = "auto") -> pa.Table:
    """A whole file as an Arrow table; ValueError/ArrowException when it cannot be parsed. The
    format is `kind`, else the extension's (a path through /proc/self/fd has none). `encoding`
    applies to CSV only: the other formats say their own."""
    kind = kind or FORMATS.get(path.suffix.lower())
    if kind == "csv":
        return read_csv(path, encoding)
    if kind == "excel":
        return read_excel(path)
    if kind == "parquet":
        return pq.read_table(path)
    if kind == "jsonl":
        if path.stat().st_size == 0:
            return pa.table({})
        return pajson.read_json(path)
    raise ValueError(f"unsupported file type '{kind or path.suffix}'")


def read_csv(path: Path, encoding: str = "auto") -> pa.Table:
    """A CSV with a header; every column as text. UTF-8 is read as it is; a legacy Vietnamese
    encoding (declared, or detected: connectors/encodings.py) is decoded to NFC Unicode first, and
    bytes no encoding explains raise UndecodableText (a ValueError: the file is quarantined)."""
    with path.open("rb") as handle:
        chosen = detect_encoding(handle.read(SAMPLE_BYTES)) if encoding == "auto" else encoding
    source: Path | pa.BufferReader = path
    if chosen in ("utf-8", "utf-8-sig"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    else:
        text, _ = decode_text(path.read_bytes(), chosen)
        header = next(csv.reader(io.StringIO(text, newline="")), None)
        source = pa.BufferReader(text.encode("utf-8"))
    if not header:
        raise ValueError("the file is empty (no header row)")
    if len(set(header)) != len(header):
        raise ValueError(f"duplicate column names in the header: {header}")
    return pacsv.read_csv(
        source,
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
    """`path: <folder>` or `s3_uri: s3://bucket/prefix` (+ `endpoint_url`, `region`); `formats`;
    `settle_s` and `complete_marker` (when a file counts as completely written)."""
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
    default_settle = DEFAULT_S3_SETTLE_S if isinstance(store, S3Store) else DEFAULT_SETTLE_S
    return FileDropConnector(
        source, store, formats, "name", *_readiness(source, settings, default_settle),
        encoding=_encoding(source, settings),
    )


def csv_folder(source: str, root: Path, settings: Mapping[str, Any] | None = None) -> FileDropConnector:
    """The first version's `csv_folder` kind: CSV only, `_file` = the name without `.csv`."""
    settings = settings or {}
    return FileDropConnector(
        source, LocalStore(root, source), ("csv",), "stem", *_readiness(source, settings),
        encoding=_encoding(source, settings),
    )


def _encoding(source: str, settings: Mapping[str, Any]) -> str:
    encoding = str(settings.get("encoding", "auto")).lower()
    if encoding not in ENCODINGS:
        raise SourceSchemaError(
            source, f"encoding must be one of {', '.join(ENCODINGS)}, got {settings.get('encoding')!r}",
            "Fix `encoding` in the source's connection, or remove it to detect the encoding of each file.",
        )
    return encoding


def _readiness(
    source: str, settings: Mapping[str, Any], default_settle: float = DEFAULT_SETTLE_S
) -> tuple[float, str | None]:
    """`settle_s` (seconds a file must stay unchanged) and `complete_marker`."""
    raw = settings.get("settle_s", default_settle)
    try:
        settle = float(raw)
    except (TypeError, ValueError):
        settle = -1.0
    if settle < 0:
        raise SourceSchemaError(source, f"settle_s must be a number of seconds >= 0, got {raw!r}",
                                "Fix settle_s in the source's connection (e.g. settle_s: 60).")
    marker = settings.get("complete_marker") or None
    if marker is not None and (not isinstance(marker, str) or "/" in marker or marker.strip() != marker):
        raise SourceSchemaError(source, f"complete_marker must be a file-name suffix such as .done, got {marker!r}",
                                "Fix complete_marker in the source's connection, or remove it to use settle_s.")
    return settle, marker


CsvFolderConnector = csv_folder
