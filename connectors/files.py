"""File drops: CSV, Excel, Parquet and JSON-lines files in a local folder or an S3 prefix.

Layout: `<root>/<table>/<file>`. Every row carries `_file`, the file it came from. A file is a
*version* (`DropFile`: name, size, modification time, and the ETag on S3): the pipeline records
the versions it has read, with a digest of their content, so each version is read exactly once,
whatever order the names sort in; a file re-sent under the same name with new content is read
again, one merely touched is not.

A file is read only once it is *ready*: declared complete by its marker (`<name><complete_marker>`,
e.g. `2024-07.csv.done`, no older than the file) when the drop declares one, else unchanged for
`settle_s` seconds (default 60 in a folder, 0 on S3, whose objects appear whole), so a file still
being written is left for a later run. Only regular files are read: symlinks, devices and pipes in
a drop folder are skipped with a warning and never opened (connectors/drop_stores.py, where the
files lie; connectors/file_formats.py, how each format is parsed).

A file that cannot be parsed, or whose header is not the declared one, raises `MalformedFile`
naming it before any of its rows are yielded, so the pipeline can quarantine that file whole;
`read_file` lets a caller go on with the next one. Memory: one file at a time (a file is the unit
that lands or is quarantined), sliced into batches of `batch_rows`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from connectors.base import ExtractRequest, bounded
from connectors.drop_stores import DropFile, FileStore, LocalStore, S3Store
from connectors.encodings import ENCODINGS
from connectors.errors import MalformedFile, SourceSchemaError
from connectors.file_formats import FORMATS, SHEETS_LEFT, HeaderMismatch, matching_header, read_table, reason

FILE_COLUMN = "_file"  # the file a row came from: its watermark and its provenance
DEFAULT_SETTLE_S = 60.0  # a local file unchanged this long is taken as completely written
# An S3 object is listed only once its upload has completed, whole: it needs no settling.
DEFAULT_S3_SETTLE_S = 0.0
FileLabel = Literal["name", "stem"]
log = logging.getLogger("ndc.connectors.files")


@dataclass(frozen=True)
class DropListing:
    """The readable files of one folder, by name: ready to read, still arriving, or refused."""

    ready: list[DropFile]
    waiting: list[DropFile]
    not_regular: list[str]


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
            table, sheets_left = self._parse(name, Path(path), request, header)
        if sheets_left:
            log.warning("%s", sheets_left_note(name, sheets_left))
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
            sheets_left = ""
            try:
                (table, sheets_left), malformed = self._parse(file.name, Path(path), request, header), None
            except MalformedFile as bad:
                table, malformed = None, bad
            if not file.etag and not _is_version(Path(path), file):
                digest = ""
        batches = (
            list(bounded(table.to_batches(max_chunksize=request.batch_rows), request.batch_rows))
            if table is not None else []
        )
        return VersionRead(batches, digest, malformed, sheets_left)

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
    ) -> tuple[pa.Table, str]:
        """The file's rows, and the workbook sheets left as lists (file_formats.read_excel), if any."""
        shown = self.store.describe(request.table or "").rstrip("/") + "/" + name
        try:
            table = read_table(
                path, FORMATS.get(Path(name).suffix.lower()), self.encoding, header or request.columns or None
            )
            if header is not None:
                table = table.select(matching_header(table.column_names, header))
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
            raise MalformedFile(self.source, name, reason(error)) from None
        sheets_left = (table.schema.metadata or {}).get(SHEETS_LEFT, b"").decode()
        labels = pa.array([self.file_label(name)] * table.num_rows, pa.string())
        return table.replace_schema_metadata(None).append_column(FILE_COLUMN, labels), sheets_left

    def check(self) -> None:
        self.store.listing("")


@dataclass(frozen=True)
class VersionRead:
    """One file version, read: its rows, or why it is malformed; and its content digest."""

    batches: list[pa.RecordBatch]
    digest: str
    malformed: MalformedFile | None = None
    sheets_left: str = ""  # a workbook's sheets sharing no declared column, not read (file_formats.read_excel)


def sheets_left_note(name: str, sheets_left: str) -> str:
    """What a reader says of a workbook's sheets left as lists (file_formats.read_excel)."""
    return f"{name}: sheet(s) {sheets_left} share no declared column: lists or notes, not rows; not read"


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
