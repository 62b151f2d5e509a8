"""One table load: extract → bronze → normalise → link → validate → quarantine / silver → load record.

Plain Python over the rooms (connectors, normalise, quality, warehouse); Dagster only calls it.
Every load proves its conservation: extracted = landed + quarantined + deduplicated.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from catalogue import TableRef, resolve_settings
from catalogue.check import compiled_suite
from connectors import Connector, ExtractRequest, MalformedFile, SourceSchemaError, open_connector
from connectors.files import FILE_COLUMN, DropFile, FileDropConnector, NotARegularFile
from connectors.staging import scratch_dir
from pipeline.channels import load_channels
from pipeline.duplicates import DUPLICATE, EXACT, classify_duplicates
from pipeline.guards import check_deleted_share, check_quarantine_jump, check_types, column_changes
from pipeline.link import AMBIGUOUS, LINK_METHOD, LINKED_METHODS, PERSON_ID, PeopleRegister, link_people
from pipeline.mapping import canonical_columns, canonical_expressions
from pipeline.stages import StageClock
from pipeline.versions import version_order, with_superseded_by_silver
from warehouse.committed import LOADS
from warehouse.tables import RUN_ID, TableName, Tombstones, Warehouse, utc_now

KEY_UNSAFE = "key_unsafe"  # the pipeline's own rule: a key that starts like a formula or holds a control character
UNSAFE_KEY = r"^[=+@\t\r]|[\x00-\x1f\x7f]"
ROW = "_row"  # position of the row within its load: ties bronze, quarantine and silver together
INGESTED_AT, SOURCE_TABLE = "_ingested_at", "_source_table"
ERRORS, WARNINGS, RULES = "_errors", "_warnings", "_rules"
DELETED, DELETED_AT = "_deleted", "_deleted_at"  # tombstones: deletes are history, not holes
LOAD_COLUMNS = (ROW, RUN_ID, INGESTED_AT, SOURCE_TABLE)
CHUNK_ROWS = 250_000  # rows judged at a time: bounds a load's memory whatever the table's size
# A file drop's cursor: the file versions each load read or quarantined, in its load record, so
# it moves in the same commit as the record (after every other commit of the load).
FILES_READ = "files_read"
FILES_READ_TYPE = pa.list_(
    pa.struct([("name", pa.string()), ("size", pa.int64()), ("modified_ns", pa.int64()),
               ("etag", pa.string()), ("digest", pa.string()), ("quarantined", pa.bool_())])
)

# Where each judged row goes: exact copies are counted and dropped, rows breaking an error rule
# go to quarantine, the rest land in silver. Every row is in exactly one of the three.
IS_EXACT_COPY = (pl.col(DUPLICATE) == EXACT).fill_null(False)
IS_REJECTED = ~IS_EXACT_COPY & (pl.col(ERRORS).list.len() > 0)
IS_LANDING = ~IS_EXACT_COPY & ~IS_REJECTED

Progress = Callable[[str], None]
log = logging.getLogger("ndc.pipeline")


@dataclass(frozen=True)
class LoadNames:
    bronze: TableName
    silver: TableName
    quarantine: TableName
    # Sensitive columns (health, ethnicity, finances, criminal records: `pii: sensitive`) live apart
    # from the basic ones, keyed alike, so that access to them can be granted, audited and kept
    # separately (Decree 13/2023 treats sensitive personal data apart). None: the entity has none.
    sensitive: TableName | None = None

    @classmethod
    def of(cls, ref: TableRef) -> LoadNames:
        # A channel keeps its own bronze and quarantine (its columns are its own) and lands in its table's silver.
        bronze, quarantine = (TableName(layer, ref.domain, ref.table.name) for layer in ("bronze", "quarantine"))
        silver = TableName("silver", ref.domain, ref.silver_table)
        apart = TableName("silver", ref.domain, f"{ref.silver_table}{SENSITIVE_SUFFIX}") if sensitive_columns(ref) else None
        return cls(bronze, silver, quarantine, apart)


SENSITIVE_SUFFIX = "__sensitive"


def sensitive_columns(ref: TableRef) -> list[str]:
    """The entity's sensitive columns (never a key: the key is what joins the two tables)."""
    keys = set(ref.entity.primary_key)
    return [c.name for c in ref.entity.columns if c.pii == "sensitive" and c.name not in keys]


@dataclass(frozen=True)
class LoadReport:
    run_id: str
    source: str
    table: str
    entity: str
    extracted: int
    landed: int
    quarantined: int
    deduplicated: int
    warned: int
    linked: int
    ambiguous: int  # landed unlinked because several citizens fit
    deleted: int
    files_quarantined: int
    rule_counts: dict[str, int]
    watermark_from: str | None
    watermark_to: str | None
    bronze_version: int | None
    silver_version: int | None
    quarantine_version: int | None
    started_at: datetime
    finished_at: datetime
    validation: object | None = field(default=None, compare=False, repr=False)  # GE result, for Data Docs
    drop: DropOutcome | None = None  # file drops only: what became of each file version
    # Wall seconds per stage (pipeline/stages.py): where this load's time went.
    stages: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def files_waiting(self) -> int:
        return self.drop.waiting if self.drop else 0

    @property
    def files_not_regular(self) -> int:
        return self.drop.not_regular if self.drop else 0

    @property
    def balanced(self) -> bool:
        return self.extracted == self.landed + self.quarantined + self.deduplicated

    @property
    def key(self) -> str:
        return f"{self.source}.{self.table}"

    def record(self) -> dict[str, object]:
        """The row this load writes to ops.pipeline.loads."""
        return {
            RUN_ID: self.run_id,
            "source": self.source,
            "table": self.table,
            "entity": self.entity,
            "extracted": self.extracted,
            "landed": self.landed,
            "quarantined": self.quarantined,
            "deduplicated": self.deduplicated,
            "warned": self.warned,
            "linked": self.linked,
            "ambiguous": self.ambiguous,
            "deleted": self.deleted,
            "files_quarantined": self.files_quarantined,
            "files_waiting": self.files_waiting,
            "files_not_regular": self.files_not_regular,
            "balanced": self.balanced,
            "watermark_from": self.watermark_from,
            "watermark_to": self.watermark_to,
            "bronze_version": self.bronze_version,
            "silver_version": self.silver_version,
            "quarantine_version": self.quarantine_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def load_table(
    ref: TableRef,
    warehouse: Warehouse,
    *,
    run_id: str,
    today: date,
    since: str | None = None,
    until: str | None = None,
    full_refresh: bool = False,
    people: PeopleRegister | None = None,
    progress: Progress | None = None,
    validate: bool = True,
    link: bool = True,
) -> LoadReport:
    """Run one table's load and return its report; raises SourceError / CatalogueError before any write.

    Without `since`, the load is incremental: from the table's high-water mark (the newest
    watermark of its last recorded load) minus its look-back window; `full_refresh` reads all.
    The high-water mark moves only when the load record is written, after every commit.
    `validate=False` skips the suite's rules and `link=False` the linking (every row unlinked):
    for measuring what each stage costs (bench/), never for a real load.
    """

    if ref.table.channels and ref.lands_in is None:
        # Several channels: each is loaded in turn as a table of its own (pipeline/channels.py).
        def load_channel(channel: TableRef, **window: str | None) -> LoadReport:
            return load_table(channel, warehouse, run_id=run_id, today=today, full_refresh=full_refresh,
                              people=people, progress=progress, **window)

        return load_channels(ref, load_channel, since=since, until=until)

    def say(message: str) -> None:
        log.info(message)
        if progress is not None:
            progress(message)

    started = utc_now()
    clock = StageClock()
    names = LoadNames.of(ref)
    # The suite is compiled before the source is touched: a rule the engine cannot compile fails
    # here, once, with nothing written (it used to fail after bronze, retried as if transient).
    # Compiled from the suite's JSON alone: Great Expectations (seconds to import in every step)
    # is imported only when a load has rows to report to Data Docs (_validation_result).
    suite, compiled = compiled_suite(ref.entity, today, with_ge=False)
    connector = open_connector(ref.source.name, ref.source.connection.kind, resolve_settings(ref.source))
    connector.check()
    is_drop = isinstance(connector, FileDropConnector)
    # A file drop's incremental cursor is the set of file versions already read, not a watermark.
    incremental = since is None and not full_refresh
    if incremental and not is_drop:
        since = incremental_since(ref, warehouse)
    request = ExtractRequest(
        source=ref.source.name,
        table=ref.table.table,
        query=ref.table.query,
        watermark_column=ref.table.watermark,
        since=since,
        until=until,
    )
    scope = " the file versions not read yet" if is_drop and incremental else " everything"
    say(f"{ref.key}: extracting" + (f" from {ref.table.watermark} >= {since}" if since else scope))
    drop: DropOutcome | None = None
    if isinstance(connector, FileDropConnector):
        drop = DropOutcome()
        files = _files_to_read(ref, connector, request, warehouse, drop, incremental=incremental, say=say)
        batches = _file_batches(ref, connector, request, files, drop, say)
    else:
        batches = connector.extract(request)
    # Extraction is a stream the bronze write pulls: its time is counted apart from the write's.
    batches = clock.pulling("extract", iter(batches), within="bronze_write")
    with clock.stage("bronze_write"):
        bronze_schema = (
            pa.schema(warehouse.table(names.bronze).schema().to_arrow()) if warehouse.exists(names.bronze) else None
        )
        stream = _bronze_stream(ref, batches, run_id, started, bronze_schema, say)
    if stream is None:
        files_quarantined = _quarantine_files(ref, connector, drop, warehouse, run_id, say)
        say(f"{ref.key}: nothing new")
        # A night whose only changes are deletions still has deletions to reconcile.
        with clock.stage("reconcile"):
            deleted, silver_version = _reconcile_deletes(ref, connector, warehouse, names, run_id, started, say)
        report = _empty_report(
            ref, run_id, started, files_quarantined, drop, deleted=deleted, silver_version=silver_version
        )
        with clock.stage("bookkeeping"):
            record_load(warehouse, report)
        _settle(report, clock)
        return report
    with clock.stage("bronze_write"):
        bronze_version = warehouse.replace_run(
            names.bronze,
            stream,
            run_id,
            description=f"{ref.source.ministry}: {ref.table.table or 'query'} as extracted",
        )
        files_quarantined = _quarantine_files(ref, connector, drop, warehouse, run_id, say)
    this_run = warehouse.scan(names.bronze).filter(pl.col(RUN_ID) == run_id)
    with clock.stage("duplicates"):
        extracted, watermark_from, watermark_to = _extent(ref, this_run)
        say(f"{ref.key}: {extracted:,} rows extracted; normalising and validating")
        # Versions are ordered within this load, then against silver (pipeline/versions.py).
        versioned = ref.table.version_column is not None and warehouse.exists(names.silver)
        silver_now = warehouse.scan(names.silver) if versioned else None
        decisions = with_superseded_by_silver(
            ref, this_run, silver_now, _duplicate_decisions(ref, this_run, extracted), row=ROW
        )
    outcome = Outcome()
    with scratch_dir("load") as staging:
        # Bounded memory: the load is judged in slices of rows; only the narrow duplicate
        # decisions (row, verdict) span the whole load. Slices are staged as Parquet and committed
        # to quarantine and silver once each, so the load stays one transaction per table. The
        # slices hold personal data: the folder is private and swept by the next load after a kill.
        for number, first in enumerate(range(0, extracted, CHUNK_ROWS)):
            with clock.stage("bronze_read"):
                raw = _slice(this_run, first).sort(ROW).collect()
            flagged = _judge(ref, raw, decisions, compiled, people, clock, validate=validate, link=link)
            with clock.stage("stage"):
                outcome.add(flagged)
                _stage(ref, raw, flagged, Path(staging), number, run_id, started)
        # Before anything reaches quarantine or silver: a load far worse than the table's recent
        # ones says the source changed (guards.py); it is refused, and its bronze rows stay unseen.
        with clock.stage("bookkeeping"):
            check_quarantine_jump(ref, _history(ref, warehouse), extracted, outcome.quarantined, outcome.rule_counts)
        say(f"{ref.key}: writing {outcome.quarantined:,} rows to quarantine")
        with clock.stage("quarantine_write"):
            quarantine_version = warehouse.replace_run(
                names.quarantine,
                _staged(Path(staging), "quarantine"),
                run_id,
                description=f"rows of {ref.key} that broke an error rule, with their original values",
            )
        # The keys the source no longer has are found before the MERGE and tombstoned by it:
        # one rewrite of silver's files, not two. A load that read everything holds the
        # source's keys already: reconcile against them.
        read_everything = since is None and until is None
        with clock.stage("reconcile"):
            gone = _keys_to_tombstone(
                ref, connector, warehouse, names, Path(staging), say, this_run if read_everything else None
            )
        tombstones = Tombstones(gone, started) if gone is not None else None
        say(f"{ref.key}: merging {outcome.landed:,} rows into silver")
        with clock.stage("merge"):
            silver_version = warehouse.merge(
                names.silver,
                _staged(Path(staging), "silver"),
                ref.entity.primary_key,
                run_id,
                newer_wins_on=version_order(ref.table),
                description=ref.entity.description,
                tombstones=tombstones,
            )
            if names.sensitive is not None:
                warehouse.merge(
                    names.sensitive,
                    _staged(Path(staging), "sensitive"),
                    ref.entity.primary_key,
                    run_id,
                    newer_wins_on=version_order(ref.table),
                    description=f"the sensitive columns of {names.silver}, by the same key",
                    tombstones=tombstones if warehouse.exists(names.sensitive) else None,
                )
    deleted = outcome.deleted + (gone.height if gone is not None else 0)
    with clock.stage("bookkeeping"):
        validation = _validation_result(compiled, suite, dict(outcome.rule_counts), extracted, run_id)
    report = LoadReport(
        run_id=run_id,
        source=ref.source.name,
        table=ref.table.name,
        entity=ref.entity.name,
        extracted=extracted,
        landed=outcome.landed,
        quarantined=outcome.quarantined,
        deduplicated=outcome.deduplicated,
        warned=outcome.warned,
        linked=outcome.linked if ref.entity.person else 0,
        ambiguous=outcome.ambiguous,
        deleted=deleted,
        files_quarantined=files_quarantined,
        rule_counts=dict(outcome.rule_counts),
        watermark_from=watermark_from,
        watermark_to=watermark_to,
        bronze_version=bronze_version,
        silver_version=silver_version,
        quarantine_version=quarantine_version,
        started_at=started,
        finished_at=utc_now(),
        validation=validation,
        drop=drop,
        stages=clock.seconds,  # the dict itself: the record's own write below is counted too
    )
    say(f"{ref.key}: recording the load")
    with clock.stage("bookkeeping"):
        record_load(warehouse, report)
    _settle(report, clock)
    say(f"{ref.key}: stage seconds: {clock.summary()}")
    return report


def _settle(report: LoadReport, clock: StageClock) -> None:
    """The report's stage seconds, final and in pipeline order (the report holds the clock's own
    dict until then, so that writing the load record is counted too)."""
    final = clock.report()
    report.stages.clear()
    report.stages.update(final)


def high_water_mark(ref: TableRef, warehouse: Warehouse) -> str | None:
    """The newest watermark any balanced load of the table read; None before the first load."""
    if ref.table.watermark is None or not warehouse.exists(LOADS):
        return None
    return (
        warehouse.scan(LOADS)
        .filter(
            (pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name) & pl.col("balanced")
        )
        .select(pl.col("watermark_to").max())
        .collect()
        .item()
    )


def incremental_since(ref: TableRef, warehouse: Warehouse) -> str | None:
    """The table's high-water mark minus its look-back window; None before the first load."""
    mark = high_water_mark(ref, warehouse)
    if mark is None or not ref.table.lookback:
        return mark
    try:
        stamp = datetime.fromisoformat(mark)
    except ValueError:  # a watermark that is no timestamp (a file name): no look-back applies
        return mark
    return (stamp - ref.table.lookback).isoformat(sep=" ")


def _empty_report(
    ref: TableRef,
    run_id: str,
    started: datetime,
    files_quarantined: int = 0,
    drop: DropOutcome | None = None,
    *,
    deleted: int = 0,
    silver_version: int | None = None,
) -> LoadReport:
    return LoadReport(
        run_id=run_id,
        source=ref.source.name,
        table=ref.table.name,
        entity=ref.entity.name,
        extracted=0,
        landed=0,
        quarantined=0,
        deduplicated=0,
        warned=0,
        linked=0,
        ambiguous=0,
        deleted=deleted,
        files_quarantined=files_quarantined,
        rule_counts={},
        watermark_from=None,
        watermark_to=None,
        bronze_version=None,
        silver_version=silver_version,
        quarantine_version=None,
        started_at=started,
        finished_at=utc_now(),
        drop=drop,
    )


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


def _files_to_read(
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


def _file_batches(
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


def _quarantine_files(
    ref: TableRef,
    connector: Connector,
    drop: DropOutcome | None,
    warehouse: Warehouse,
    run_id: str,
    say: Progress,
) -> int:
    """Whole files that could not be parsed, kept byte for byte with the reason."""
    if drop is None or not drop.malformed:
        return 0
    rows = []
    for file, error in drop.malformed:
        try:
            with connector.store.local_copy(ref.table.table or "", file.name) as path:  # type: ignore[attr-defined]
                content = Path(path).read_bytes()
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


def _reconcile_deletes(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    run_id: str,
    started: datetime,
    say: Progress,
    whole_source: pl.LazyFrame | None = None,
) -> tuple[int, int | None]:
    """For `deletes: reconcile`: tombstone silver's live keys the source no longer has, the source's
    keys taken from `whole_source` (this run's bronze, when it read every row) or read afresh.
    Returns (keys tombstoned, silver version written or None)."""
    if ref.table.deletes != "reconcile" or not warehouse.exists(names.silver):
        return 0, None
    vanished, live_rows = _vanished_keys(ref, connector, warehouse, names, whole_source)
    if not vanished.height:
        return 0, None
    check_deleted_share(ref, live_rows, vanished.height)
    say(f"{ref.key}: {vanished.height:,} keys no longer in the source; tombstoning them")
    version = warehouse.tombstone(names.silver, vanished, ref.entity.primary_key, run_id, started)
    if names.sensitive is not None and warehouse.exists(names.sensitive):
        warehouse.tombstone(names.sensitive, vanished, ref.entity.primary_key, run_id, started)
    return vanished.height, version


def _keys_to_tombstone(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    staging: Path,
    say: Progress,
    whole_source: pl.LazyFrame | None = None,
) -> pl.DataFrame | None:
    """For `deletes: reconcile`, before the MERGE: silver's live keys the source no longer has
    (checked by the deletion guard), for the MERGE to tombstone. None when there are none.

    A key this load lands is left out: it was deleted at the source after the rows were read,
    and one MERGE cannot both upsert and tombstone it; the next load tombstones it."""
    if ref.table.deletes != "reconcile" or not warehouse.exists(names.silver):
        return None
    vanished, live_rows = _vanished_keys(ref, connector, warehouse, names, whole_source)
    if not vanished.height:
        return None
    check_deleted_share(ref, live_rows, vanished.height)
    landing = sorted(staging.glob("silver-*.parquet"))
    if landing:
        keys = ref.entity.primary_key
        vanished = vanished.join(pl.scan_parquet(landing).select(keys).collect(), on=keys, how="anti")
    if not vanished.height:
        return None
    say(f"{ref.key}: {vanished.height:,} keys no longer in the source; tombstoning them")
    return vanished


def _vanished_keys(
    ref: TableRef,
    connector: Connector,
    warehouse: Warehouse,
    names: LoadNames,
    whole_source: pl.LazyFrame | None = None,
) -> tuple[pl.DataFrame, int]:
    """Keys live in silver that the source no longer has (read: the key columns only), and how
    many keys are live (for the deletion guard), from one read of silver's keys."""
    keys = ref.entity.primary_key
    live = warehouse.scan(names.silver).filter(~pl.col(DELETED).fill_null(False)).select(keys).collect()
    if whole_source is None:
        request = ExtractRequest(
            source=ref.source.name,
            table=ref.table.table,
            query=ref.table.query,
            columns=tuple(dict.fromkeys(m.source for m in ref.table.columns if m.to in keys)),
        )
        batches = list(connector.extract(request))
        if not batches:  # the source table is empty: every live key is gone
            return live, live.height
        whole_source = pl.from_arrow(pa.Table.from_batches(batches)).lazy()  # type: ignore[union-attr]
    # Normalised exactly as the load normalises them, so a key matches its silver row.
    source_keys = whole_source.select(
        expression
        for name, expression in canonical_expressions(ref.table, ref.entity).items()
        if name in keys
    )
    return live.lazy().join(source_keys, on=keys, how="anti").collect(), live.height


def record_load(warehouse: Warehouse, report: LoadReport) -> int:
    """Write the load record; for a file drop it carries the file versions read (the cursor moves
    here, in the load's last commit). Other loads hold a null list of the same type."""
    row = pa.Table.from_pylist([report.record()])
    versions = report.drop.versions() if report.drop is not None else None
    row = row.append_column(pa.field(FILES_READ, FILES_READ_TYPE), pa.array([versions], FILES_READ_TYPE))
    return warehouse.replace_run(
        LOADS,
        row,
        report.run_id,
        also_matching={"source": report.source, "table": report.table},
        description="one row per table load; extracted = landed + quarantined + deduplicated",
    )


def _history(ref: TableRef, warehouse: Warehouse) -> pl.DataFrame:
    """The table's recorded loads: their sizes and quarantine counts (for the promotion guard)."""
    columns = ["extracted", "quarantined", "finished_at"]
    if not warehouse.exists(LOADS):
        return pl.DataFrame(schema=dict.fromkeys(columns[:2], pl.Int64) | {"finished_at": pl.Datetime("us", "UTC")})
    mine = (pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name)
    return warehouse.scan(LOADS).filter(mine).select(columns).collect()


def _bronze_stream(
    ref: TableRef,
    batches: Iterator[pa.RecordBatch],
    run_id: str,
    ingested_at: datetime,
    bronze: pa.Schema | None = None,
    say: Progress | None = None,
) -> pa.RecordBatchReader | None:
    """The extracted batches plus load columns, checked against the mapping and against bronze's
    column types before anything is written (schema drift: pipeline/guards.py)."""
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

    def with_load_columns() -> Iterator[pa.RecordBatch]:
        offset = 0
        for batch in itertools.chain([first], batches):
            n = batch.num_rows
            columns = [
                *batch.columns,
                pa.array(range(offset, offset + n), pa.int64()),
                pa.array([run_id] * n, pa.string()),
                pa.array([ingested_at] * n, pa.timestamp("us", tz="UTC")),
                pa.array([ref.key] * n, pa.string()),
            ]
            offset += n
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, with_load_columns())


def _extent(ref: TableRef, this_run: pl.LazyFrame) -> tuple[int, str | None, str | None]:
    """Rows extracted by this run, and the range of their watermark."""
    column = ref.table.watermark
    stamp = pl.col(column).cast(pl.String) if column else pl.lit(None, pl.String)
    rows, low, high = (
        this_run.select(pl.len(), stamp.min().alias("low"), stamp.max().alias("high")).collect().row(0)
    )
    return int(rows), low, high


def _duplicate_decisions(ref: TableRef, this_run: pl.LazyFrame, rows: int) -> pl.DataFrame:
    """The duplicate rule over the whole load, on narrow columns: row, canonical key, watermark and
    a hash of the row as extracted (exact copies share key, watermark and hash). Only the rows
    that are duplicates are returned, with their verdict."""
    source_columns = [c for c in this_run.collect_schema().names() if c not in LOAD_COLUMNS]
    keys = ref.entity.primary_key
    stamp = version_order(ref.table)
    wanted = set(keys) | {stamp}
    narrow_columns = [
        pl.col(ROW),
        *(expr for name, expr in canonical_expressions(ref.table, ref.entity).items() if name in wanted),
        pl.struct(source_columns).hash(seed=0).alias("_row_hash"),
    ]
    # Read in the same slices as the judging, so the wide rows never sit in memory all at once.
    narrow = pl.concat(
        [_slice(this_run, first).select(narrow_columns).collect() for first in range(0, rows, CHUNK_ROWS)]
        or [this_run.select(narrow_columns).head(0).collect()]
    )
    # Only rows whose key occurs more than once (or is missing) can be duplicates: the rule's
    # windows run on those few. Repeats are found on a sorted 64-bit hash of the key (grouping
    # millions of text keys costs gigabytes); a collision only adds a suspect, judged on the real key.
    key_hash = narrow.select(pl.struct(keys).hash(seed=1)).to_series()
    ordered = key_hash.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    suspects = narrow.filter(
        key_hash.is_in(repeated.implode()) | pl.any_horizontal(pl.col(k).is_null() for k in keys)
    )
    return (
        classify_duplicates(
            suspects.lazy(),
            keys=keys,
            raw_columns=["_row_hash", *keys, *([stamp] if stamp else [])],
            watermark=stamp,
        )
        .filter(pl.col(DUPLICATE).is_not_null())
        .select(ROW, DUPLICATE)
        .collect()
    )


def _slice(this_run: pl.LazyFrame, first: int) -> pl.LazyFrame:
    return this_run.filter(pl.col(ROW).is_between(first, first + CHUNK_ROWS - 1))


def _judge(
    ref: TableRef,
    raw: pl.DataFrame,
    decisions: pl.DataFrame,
    compiled: object,
    people: PeopleRegister | None,
    clock: StageClock | None = None,
    *,
    validate: bool = True,
    link: bool = True,
) -> pl.DataFrame:
    """One slice of the load: canonical columns, duplicate verdicts, links, and the rules each row breaks."""
    from quality.compile import flag_rows

    clock = clock or StageClock()

    soft_delete = ref.table.soft_delete
    deleted = (
        pl.col(soft_delete.column).cast(pl.String).is_in(soft_delete.values).fill_null(False)
        if soft_delete
        else pl.lit(False)
    )
    with clock.stage("normalise"):
        canonical = (
            raw.lazy()
            .select(*canonical_columns(ref.table, ref.entity), ROW, deleted.alias(DELETED))
            .join(decisions.lazy(), on=ROW, how="left", maintain_order="left")
            .collect()
        )
    with clock.stage("link"):
        canonical = (
            link_people(canonical.lazy(), ref.entity, people).collect() if link else canonical.with_columns(*_UNLINKED)
        )
    # The suite judges one version per key: duplicates were decided over the whole load by the
    # declared rule, and judging them again would make the winning version "not unique". A
    # tombstone needs only its key: the row is gone at the source, its other values no longer matter.
    decided_already = pl.col(DUPLICATE).is_not_null() | pl.col(DELETED)
    no_rules = pl.lit([], pl.List(pl.String))
    clock_validate = time.perf_counter()
    judged = (
        flag_rows(canonical.filter(~decided_already), compiled)
        if validate
        else canonical.filter(~decided_already).with_columns(no_rules.alias(ERRORS), no_rules.alias(WARNINGS))
    )
    key_missing = pl.any_horizontal(pl.col(k).is_null() for k in ref.entity.primary_key)
    decided = canonical.filter(decided_already).with_columns(
        pl.when(pl.col(DUPLICATE) == EXACT)
        .then(no_rules)
        .when(pl.col(DUPLICATE).is_not_null())
        .then(pl.concat_list(pl.col(DUPLICATE)))
        .when(key_missing)
        .then(pl.lit(["tombstone_without_key"]))
        .otherwise(no_rules)
        .alias(ERRORS),
        no_rules.alias(WARNINGS),
    )
    # A key is an identifier: one a spreadsheet would run as a formula (=HYPERLINK(…)) or holding a
    # control character is not a ministry's key but an injection, and would travel into every export.
    unsafe_key = pl.any_horizontal(
        pl.col(k).cast(pl.String).str.contains(UNSAFE_KEY).fill_null(False) for k in ref.entity.primary_key
    )
    key_rules = pl.when(unsafe_key).then(pl.lit([KEY_UNSAFE])).otherwise(no_rules)
    flagged = (
        pl.concat([judged, decided], how="vertical")
        .sort(ROW)
        .with_columns(
            pl.concat_list(ERRORS, "_link_errors", key_rules).list.unique(maintain_order=True).alias(ERRORS)
        )
        .drop("_link_errors")
    )
    clock.add("validate", time.perf_counter() - clock_validate)
    return flagged


# What linking adds, for a load measured without it: every row unlinked, no link errors.
_UNLINKED = (
    pl.lit(None, pl.String).alias(PERSON_ID),
    pl.lit(None, pl.String).alias(LINK_METHOD),
    pl.lit([], pl.List(pl.String)).alias("_link_errors"),
)


@dataclass
class Outcome:
    """What the slices of one load came to, added up."""

    landed: int = 0
    quarantined: int = 0
    deduplicated: int = 0
    warned: int = 0
    linked: int = 0
    ambiguous: int = 0
    deleted: int = 0
    rule_counts: Counter[str] = field(default_factory=Counter)

    def add(self, flagged: pl.DataFrame) -> None:
        row = flagged.select(
            IS_LANDING.sum().alias("landed"),
            IS_REJECTED.sum().alias("quarantined"),
            IS_EXACT_COPY.sum().alias("deduplicated"),
            (IS_LANDING & (pl.col(WARNINGS).list.len() > 0)).sum().alias("warned"),
            (IS_LANDING & pl.col(LINK_METHOD).is_in(LINKED_METHODS)).sum().alias("linked"),
            (IS_LANDING & (pl.col(LINK_METHOD) == AMBIGUOUS)).sum().alias("ambiguous"),
            (IS_LANDING & pl.col(DELETED)).sum().alias("deleted"),
        ).row(0, named=True)
        for name, value in row.items():
            setattr(self, name, getattr(self, name) + int(value))
        broken = flagged.select(pl.concat_list(ERRORS, WARNINGS).alias("rule")).explode("rule").drop_nulls()
        self.rule_counts.update(dict(broken.group_by("rule").len().iter_rows()))


def _stage(
    ref: TableRef,
    raw: pl.DataFrame,
    flagged: pl.DataFrame,
    folder: Path,
    number: int,
    run_id: str,
    started: datetime,
) -> None:
    """One slice, staged: rejected rows with their original values and the rules they broke; landing
    rows in canonical form with their warnings, links and provenance. Exact copies go nowhere."""
    quarantine = (
        raw.with_columns(flagged.select(ERRORS, WARNINGS, IS_REJECTED.alias("_rejected")))
        .filter(pl.col("_rejected"))
        .drop("_rejected")
        .rename({ERRORS: RULES})
        .with_columns(pl.lit(utc_now()).alias("_quarantined_at"))
    )
    landing = flagged.filter(IS_LANDING).select(
        *ref.entity.column_names,
        PERSON_ID,
        LINK_METHOD,
        WARNINGS,
        ROW,
        DELETED,
        pl.when(pl.col(DELETED)).then(pl.lit(started)).alias(DELETED_AT),
        pl.lit(run_id).alias(RUN_ID),
        pl.lit(utc_now()).alias("_loaded_at"),
    )
    quarantine.write_parquet(folder / f"quarantine-{number:05d}.parquet")
    if apart := sensitive_columns(ref):
        # The sensitive columns go to their own table with what MERGE needs: key, version order, provenance.
        joining = [*ref.entity.primary_key, *([w] if (w := version_order(ref.table)) and w not in apart else [])]
        provenance = [ROW, DELETED, DELETED_AT, RUN_ID, "_loaded_at"]
        landing.select(*dict.fromkeys([*joining, *apart, *provenance])).write_parquet(
            folder / f"sensitive-{number:05d}.parquet"
        )
        landing = landing.drop(apart)
    landing.write_parquet(folder / f"silver-{number:05d}.parquet")


def _staged(folder: Path, kind: str) -> Callable[[], pa.RecordBatchReader]:
    """A fresh reader over the staged slices each time it is called (a commit retry re-reads them)."""
    files = sorted(folder.glob(f"{kind}-*.parquet"))

    def reader() -> pa.RecordBatchReader:
        dataset = pads.dataset([str(f) for f in files], format="parquet")
        return pa.RecordBatchReader.from_batches(
            dataset.schema, dataset.to_batches(batch_size=CHUNK_ROWS // 4)
        )

    return reader


def _validation_result(
    compiled: object, suite: object, counts: dict[str, int], rows: int, run_id: str
) -> object:
    from quality.compile import validation_result
    from quality.suites import load_suite

    return validation_result(compiled, load_suite(suite.name), counts, rows, run_id)  # type: ignore[attr-defined]
