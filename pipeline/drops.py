"""A file-drop load: which file versions to read (the per-file cursor kept in the load records,
or the legacy watermark cursor before it), their rows one file at a time, and the files that
could not be parsed, quarantined whole; DropOutcome says what became of each version.

Longer than most rooms (about 250 lines) because the cursor, the reading and the quarantine of a
drop share DropOutcome and move together; none of it concerns other connectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
import pyarrow as pa

from catalogue import TableRef
from connectors import Connector, ExtractRequest, MalformedFile
from connectors.drop_stores import DropFile, NotARegularFile
from connectors.files import FILE_COLUMN, FileDropConnector, sheets_left_note
from pipeline.stages import Progress
from warehouse.committed import LOADS
from warehouse.tables import RUN_ID, TableName, Warehouse, utc_now

# A file drop's cursor: the file versions each load read or quarantined, in its load record, so
# it moves in the same commit as the record (after every other commit of the load).
FILES_READ = "files_read"
FILES_READ_TYPE = pa.list_(
    pa.struct([("name", pa.string()), ("size", pa.int64()), ("modified_ns", pa.int64()),
               ("etag", pa.string()), ("digest", pa.string()), ("quarantined", pa.bool_())])
)
# A workbook's sheets that share no declared column, left unread: one entry per workbook,
# "<file>: <sheet>, <sheet>" (connectors/file_formats.py: read_excel).
SHEETS_LEFT = "sheets_left"
SHEETS_LEFT_TYPE = pa.list_(pa.string())


@dataclass
class DropOutcome:
    """What one file-drop load did with the files of its folder."""

    read: list[DropFile] = field(default_factory=list)  # parsed; their rows are this load's rows
    inherited: list[DropFile] = field(default_factory=list)  # read by a load before per-file cursors
    malformed: list[tuple[DropFile, MalformedFile]] = field(default_factory=list)
    quarantined: list[DropFile] = field(default_factory=list)  # malformed, now kept byte for byte
    waiting: int = 0  # still being written: left for a later run
    not_regular: int = 0  # symlinks, devices, pipes: never read
    digests: dict[DropFile, str] = field(default_factory=dict)  # content digest of each version seen
    sheets_left: list[str] = field(default_factory=list)  # "<file>: <sheets>" of each workbook read

    def versions(self) -> list[dict[str, object]]:
        """The cursor's new entries: every version this load read or quarantined."""
        return [
            {**file.record(), "digest": self.digests.get(file, ""), "quarantined": quarantined}
            for files, quarantined in ((self.read, False), (self.inherited, False), (self.quarantined, True))
            for file in files
        ]


@dataclass(frozen=True)
class VersionsRead:
    """A file drop's cursor: the versions its recorded loads read or quarantined, and their
    contents (name, size, digest), so a file only touched or copied again is not read twice."""

    versions: frozenset[DropFile] = frozenset()
    contents: frozenset[tuple[str, int, str]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.versions)

    def may_hold(self, file: DropFile) -> bool:
        """Whether a version of this name and size was read: only then is a digest worth taking."""
        return any(name == file.name and size == file.size for name, size, _ in self.contents)


def drop_versions_read(ref: TableRef, warehouse: Warehouse) -> VersionsRead:
    """The file versions the table's recorded loads have read or quarantined (its cursor)."""
    records = _drop_records(ref, warehouse)
    if records is None or FILES_READ not in records.collect_schema().names():
        return VersionsRead()
    versions = (
        records.select(pl.col(FILES_READ).explode())
        .unnest(FILES_READ)
        .drop_nulls("name")
        .select("name", "size", "modified_ns", pl.col("etag").fill_null(""), pl.col("digest").fill_null(""))
        .unique()
        .collect()
    )
    return VersionsRead(
        frozenset(DropFile(*row[:4]) for row in versions.iter_rows()),
        frozenset((name, size, digest) for name, size, _, _, digest in versions.iter_rows() if digest),
    )


def _drop_records(ref: TableRef, warehouse: Warehouse) -> pl.LazyFrame | None:
    if not warehouse.exists(LOADS):
        return None
    return warehouse.scan(LOADS).filter(
        (pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name) & pl.col("balanced")
    )


def _legacy_cursor(ref: TableRef, warehouse: Warehouse) -> tuple[str, datetime] | None:
    """A table loaded only before per-file cursors: its newest file label and when that load began.

    Files up to that label and unchanged since that load began were read by it; anything else
    (a late name, a re-sent file) is read again, once.
    """
    records = _drop_records(ref, warehouse)
    if records is None:
        return None
    has_cursor = FILES_READ in records.collect_schema().names() and bool(
        records.filter(pl.col(FILES_READ).is_not_null()).head(1).collect().height
    )
    if has_cursor:
        return None  # a per-file cursor exists: it alone decides
    newest = (
        records.filter(pl.col("watermark_to").is_not_null())
        .sort("watermark_to", descending=True)
        .select("watermark_to", "started_at")
        .head(1)
        .collect()
    )
    return (newest.item(0, 0), newest.item(0, 1)) if newest.height else None


def files_to_read(
    ref: TableRef,
    connector: FileDropConnector,
    request: ExtractRequest,
    warehouse: Warehouse,
    drop: DropOutcome,
    *,
    incremental: bool,
    say: Progress,
) -> list[DropFile]:
    """The ready file versions in the window; incrementally, those the cursor has not seen.

    An explicit window or a full refresh reads its files again (MERGE by key makes that safe).
    """
    listing = connector.drop_listing(request.table)
    drop.waiting, drop.not_regular = len(listing.waiting), len(listing.not_regular)
    if listing.waiting:
        say(f"{ref.key}: {len(listing.waiting)} file(s) not complete yet, waiting for "
            f"{connector.waiting_for()}; left for a later run: "
            + ", ".join(file.name for file in listing.waiting[:5]))
    if listing.not_regular:
        say(f"{ref.key}: {len(listing.not_regular)} entr(ies) not a regular file (symlink, device, pipe), "
            "never read: " + ", ".join(listing.not_regular[:5]))
    files = [file for file in listing.ready if connector.in_window(file.name, request)]
    if not incremental:
        return files
    seen = drop_versions_read(ref, warehouse)
    legacy = _legacy_cursor(ref, warehouse) if not seen else None
    if legacy is not None:
        mark, started = legacy
        started_ns = int(started.timestamp() * 1_000_000) * 1000

        def read_by_legacy_load(file: DropFile) -> bool:
            return connector.file_label(file.name) <= mark and file.modified_ns < started_ns

        # Carried into this load's record: the legacy mark is used once.
        drop.inherited = [file for file in files if read_by_legacy_load(file)]
        return [file for file in files if file not in drop.inherited]
    unread = []
    for file in (file for file in files if file not in seen.versions):
        # A new time on content already read (a file touched, or the whole folder copied again)
        # is not a new version: it is recorded under its new time and not read again.
        try:
            digest = connector.digest(file, request.table) if seen.may_hold(file) else ""
        except NotARegularFile:  # swapped for a link since the listing: the read refuses it
            digest = ""
        if digest and (file.name, file.size, digest) in seen.contents:
            drop.inherited.append(file)
            drop.digests[file] = digest
        else:
            unread.append(file)
    return unread


def file_batches(
    ref: TableRef,
    connector: FileDropConnector,
    request: ExtractRequest,
    files: list[DropFile],
    drop: DropOutcome,
    say: Progress,
) -> Iterator[pa.RecordBatch]:
    """The files' rows, one file at a time. A file that cannot be parsed, or whose header is not the
    declared one, is set aside for quarantine: it never blocks the files behind it."""
    header = list(dict.fromkeys(
        [c for c in ref.table.source_columns if c != FILE_COLUMN]
        + ([ref.table.soft_delete.column] if ref.table.soft_delete else [])
    ))
    schema: pa.Schema | None = None
    for file in files:
        try:
            version = connector.read_version(file, request, header=header)
            drop.digests[file] = version.digest
            if version.malformed is not None:
                raise version.malformed
            batches = version.batches
            if schema is None and batches:
                schema = batches[0].schema
            # Every file of a load shares one schema (bronze is one stream); a Parquet or JSON
            # file whose types cannot be read as the first file's is malformed, not fatal.
            batches = [b if b.schema.equals(schema) else b.cast(schema) for b in batches]
            if version.sheets_left:  # said now, and kept in the load record
                say(f"{ref.key}: {sheets_left_note(file.name, version.sheets_left)}")
                drop.sheets_left.append(f"{file.name}: {version.sheets_left}")
        except MalformedFile as error:
            drop.malformed.append((file, error))
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
            drop.malformed.append((file, MalformedFile(
                ref.source.name, file.name, f"column types differ from the other files of this load: {error}"
            )))
            continue
        except NotARegularFile as error:
            drop.not_regular += 1
            say(f"{ref.key}: {error}")
            continue
        drop.read.append(file)
        yield from batches


def quarantine_files(
    ref: TableRef,
    connector: Connector,
    drop: DropOutcome | None,
    warehouse: Warehouse,
    run_id: str,
    say: Progress,
) -> int:
    """Whole files that could not be parsed, kept byte for byte with the reason."""
    if drop is None or not drop.malformed or not isinstance(connector, FileDropConnector):
        return 0
    rows = []
    for file, error in drop.malformed:
        try:
            content = connector.file_bytes(file, ref.table.table)
        except NotARegularFile as refused:  # swapped for a symlink since it was read: not kept
            drop.not_regular += 1
            say(f"{ref.key}: {refused}")
            continue
        rows.append(
            {
                "file": error.file,
                "reason": error.reason,
                "bytes": len(content),
                "content": content,
                RUN_ID: run_id,
                "_quarantined_at": utc_now(),
            }
        )
        drop.quarantined.append(file)
        say(f"{ref.key}: file {error.file} quarantined whole: {error.reason}")
    if not rows:
        return 0
    warehouse.replace_run(
        TableName("quarantine", ref.domain, f"{ref.table.name}__files"),
        pa.Table.from_pylist(rows),
        run_id,
        description=f"files of {ref.key} that could not be parsed, byte for byte, with the reason",
    )
    return len(rows)

