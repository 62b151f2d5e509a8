"""One table load: extract → bronze → normalise → link → validate → quarantine / silver → load record.

The sequence only; each stage lives in its own room: pipeline/bronze.py (the bronze stream),
judge.py (duplicates, judging, accounting), staging.py (slices staged as Parquet), deletes.py
(delete reconciliation), drops.py (file drops), cursor.py (the incremental cursor) and
load_report.py (the report and the load record). Plain Python; Dagster only calls it.
Every load proves its conservation: extracted = landed + quarantined + deduplicated.

`load_table` reads as the load's sequence: it prepares the reads, then calls the steps below
it (extraction, bronze, judging, quarantine, silver, the load record) in the order it runs them;
the reconcile between quarantine and silver is one call into deletes.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from catalogue import TableRef, resolve_settings
from catalogue.check import compiled_suite
from connectors import ExtractRequest, open_connector
from connectors.base import Connector, IndependentReader, prepared_read
from connectors.files import FileDropConnector
from connectors.staging import scratch_dir
from pipeline.bronze import CHUNK_ROWS, Sent, bronze_stream, extent, slice_of
from pipeline.channels import load_channels
from pipeline.cursor import incremental_since
from pipeline.deletes import SourceKeys, keys_to_tombstone, reconcile_deletes
from pipeline.drops import DropOutcome, file_batches, files_to_read, quarantine_files
from pipeline.guards import check_quarantine_jump
from pipeline.judge import Outcome, duplicate_decisions, judge_slice, normalised_keys
from pipeline.link import PeopleRegister
from pipeline.load_report import (
    LoadReport,
    empty_report,
    from_drop,
    load_history,
    load_validation,
    record_load,
)
from pipeline.memory import release_unused
from pipeline.names import ROW, LoadNames
from pipeline.stages import Progress, StageClock
from pipeline.staging import stage_slice, staged, staged_files
from pipeline.versions import version_order, with_superseded_by_silver
from warehouse.tables import RUN_ID, Tombstones, Warehouse, key_bounds, utc_now

if TYPE_CHECKING:
    from quality.compile import CompiledSuite

log = logging.getLogger("ndc.pipeline")


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

    Without `since` or `until`, the load is incremental: from the table's high-water mark (the
    newest watermark of its last recorded load) minus its look-back window; `until` alone reads
    everything before it ([since, until), either end open); `full_refresh` reads all.
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

    load = _Load(ref, warehouse, LoadNames.of(ref), run_id, utc_now(), StageClock(), progress)
    connector = open_connector(ref.source.name, ref.source.connection.kind, resolve_settings(ref.source))
    incremental = since is None and until is None and not full_refresh
    # A SQL read runs in a child process (connectors/isolated.py) whose start-up (~0.5 s) would
    # otherwise come first: both the rows' and the source keys' start now, beside this set-up
    # (~0.3 s) and the extraction. Leaving the block ends them, read or not.
    with contextlib.ExitStack() as readers:
        rows = readers.enter_context(prepared_read(connector))
        # A load that reads part of the source reconciles against all of its keys, read beside the
        # judging once the extraction has ended (pipeline/deletes.py: SourceKeys). An incremental
        # load reads part of it unless the table has no watermark or no load history yet (then it
        # reads everything).
        reads_part = not (since is None and until is None) or (incremental and ref.table.watermark is not None)
        keys_reader = readers.enter_context(contextlib.ExitStack())
        source_keys = keys_reader.enter_context(SourceKeys.prepared(ref, connector, warehouse)) if reads_part else None
        # The suite is compiled before the source is touched: a rule the engine cannot compile fails
        # here, once, with nothing written (it used to fail after bronze, retried as if transient).
        # Compiled from the suite's JSON alone: a load never imports Great Expectations (seconds in
        # every step); `ndc docs serve` renders the validation result it stores (quality/render.py).
        suite, compiled = compiled_suite(ref.entity, today, with_ge=False)
        connector.check()
        request = _extract_request(load, connector, since, until, incremental=incremental)
        load.say(_extracting(ref, connector, request, incremental=incremental))
        read_everything = request.since is None and request.until is None  # then bronze holds every source key
        if read_everything:  # the keys' reader is ended unread
            keys_reader.close()
            source_keys = None
        batches, drop = _extraction(load, connector, rows, request, incremental=incremental)
        bronze = _land_in_bronze(load, connector, batches, drop)
        if bronze is None:
            return _nothing_new(load, connector, drop, source_keys)
        if source_keys is not None:
            source_keys.start()  # the extraction's connection is closed: one at a time, as before
        this_run = warehouse.scan(load.names.bronze).filter(pl.col(RUN_ID) == run_id)
        # The staged slices hold personal data: the folder is private and swept by the next load
        # after a kill.
        with scratch_dir("load") as scratch:
            staging = Path(scratch)
            judged = _judged_in_slices(
                load, this_run, bronze.sent, compiled, staging, people, validate=validate, link=link
            )
            quarantine_version = _write_quarantine(load, judged, staging)
            # The keys the source no longer has are found before the MERGE and tombstoned by it:
            # one rewrite of silver's files, not two. A load that read everything holds the
            # source's keys already: reconcile against them.
            with load.clock.stage("reconcile"):
                gone = keys_to_tombstone(
                    ref, connector, warehouse, load.names, staging, load.say,
                    whole_source=this_run if read_everything else None, read_ahead=source_keys,
                )
            silver_version = _merge_into_silver(load, judged, staging, gone)
    outcome = judged.outcome
    with load.clock.stage("bookkeeping"):
        validation = load_validation(compiled, suite, dict(outcome.rule_counts), judged.extracted, run_id)
    report = LoadReport(
        run_id=run_id,
        source=ref.source.name,
        table=ref.table.name,
        entity=ref.entity.name,
        extracted=judged.extracted,
        landed=outcome.landed,
        quarantined=outcome.quarantined,
        deduplicated=outcome.deduplicated,
        warned=outcome.warned,
        linked=outcome.linked if ref.entity.person else 0,
        ambiguous=outcome.ambiguous,
        deleted=outcome.deleted + (gone.height if gone is not None else 0),
        files_quarantined=bronze.files_quarantined,
        rule_counts=dict(outcome.rule_counts),
        watermark_from=judged.watermark_from,
        watermark_to=judged.watermark_to,
        bronze_version=bronze.version,
        silver_version=silver_version,
        quarantine_version=quarantine_version,
        started_at=load.started,
        finished_at=utc_now(),
        validation=validation,
        **from_drop(drop),
        stages=load.clock.seconds,  # the dict itself: the record's own write below is counted too
        stages_cpu=load.clock.cpu,
    )
    load.say(f"{ref.key}: recording the load")
    return _recorded(load, report)


@dataclass(frozen=True)
class _Load:
    """What every step of one table's load shares: the table, where it lands, this run, its clock."""

    ref: TableRef
    warehouse: Warehouse
    names: LoadNames
    run_id: str
    started: datetime
    clock: StageClock
    progress: Progress | None

    def say(self, message: str) -> None:
        """Logged, and shown as the load's progress (the CLI's line, the Dagster run's log)."""
        log.info(message)
        if self.progress is not None:
            self.progress(message)


@dataclass(frozen=True)
class _Bronze:
    """This run's rows as landed in bronze: the version written, what the source sent (for bronze
    to be checked against) and how many of a file drop's files were quarantined whole."""

    version: int
    sent: Sent
    files_quarantined: int


@dataclass(frozen=True)
class _Judged:
    """Every row of this run judged and staged: how many were extracted, their watermark's range,
    and the verdicts' counts."""

    extracted: int
    watermark_from: str | None
    watermark_to: str | None
    outcome: Outcome


def _extract_request(
    load: _Load, connector: Connector, since: str | None, until: str | None, *, incremental: bool
) -> ExtractRequest:
    """What to read: the window asked for, or for an incremental load from the table's high-water
    mark. A file drop's incremental cursor is the set of file versions already read, not a
    watermark (pipeline/drops.py)."""
    if incremental and not isinstance(connector, FileDropConnector):
        since = incremental_since(load.ref, load.warehouse)
    table = load.ref.table
    return ExtractRequest(
        source=load.ref.source.name,
        table=table.table,
        query=table.query,
        watermark_column=table.watermark,
        since=since,
        until=until,
    )


def _extracting(ref: TableRef, connector: Connector, request: ExtractRequest, *, incremental: bool) -> str:
    """The progress line that says what the load reads."""
    watermark = ref.table.watermark
    is_drop = isinstance(connector, FileDropConnector)
    scope = " the file versions not read yet" if is_drop and incremental else " everything"
    return (
        f"{ref.key}: extracting"
        + (f" from {watermark} >= {request.since}" if request.since else scope)
        + (f" before {watermark} {request.until}" if request.until else "")
    )


def _extraction(
    load: _Load,
    connector: Connector,
    rows: Connector | IndependentReader,
    request: ExtractRequest,
    *,
    incremental: bool,
) -> tuple[Iterator[pa.RecordBatch], DropOutcome | None]:
    """The source's rows as a stream of batches: a file drop's files not read yet (with what
    became of each), or a SQL read by `rows`, the reader prepared as the load began."""
    ref = load.ref
    drop: DropOutcome | None = None
    if isinstance(connector, FileDropConnector):
        drop = DropOutcome()
        files = files_to_read(
            ref, connector, request, load.warehouse, drop, incremental=incremental, say=load.say
        )
        batches = file_batches(ref, connector, request, files, drop, load.say)
    else:
        batches = rows.extract(request)
    # Extraction is a stream the bronze write pulls: its time is counted apart from the write's.
    return load.clock.pulling("extract", iter(batches), within="bronze_write"), drop


def _land_in_bronze(
    load: _Load, connector: Connector, batches: Iterator[pa.RecordBatch], drop: DropOutcome | None
) -> _Bronze | None:
    """The extraction written to bronze as it streams, as this run's rows, then a file drop's
    unparsable files quarantined whole. None when the source sent no row: nothing is written
    (the nothing-new path quarantines those files)."""
    ref, names, warehouse = load.ref, load.names, load.warehouse
    with load.clock.stage("bronze_write"):
        bronze_schema = (
            pa.schema(warehouse.table(names.bronze).schema().to_arrow()) if warehouse.exists(names.bronze) else None
        )
        sent = Sent()
        stream = bronze_stream(ref, batches, load.run_id, load.started, bronze_schema, load.say, sent)
    if stream is None:
        return None
    with load.clock.stage("bronze_write"):
        with sent.writing():
            version = warehouse.replace_run(
                names.bronze,
                stream,
                load.run_id,
                description=f"{ref.source.ministry}: {ref.table.table or 'query'} as extracted",
            )
        files_quarantined = quarantine_files(ref, connector, drop, warehouse, load.run_id, load.say)
    return _Bronze(version, sent, files_quarantined)


def _nothing_new(
    load: _Load, connector: Connector, drop: DropOutcome | None, source_keys: SourceKeys | None
) -> LoadReport:
    """A load whose source sent no row: its unparsable files (a drop's) quarantined, and, since a
    night whose only changes are deletions still has deletions, its deletes reconciled."""
    ref = load.ref
    files_quarantined = quarantine_files(ref, connector, drop, load.warehouse, load.run_id, load.say)
    load.say(f"{ref.key}: nothing new")
    with load.clock.stage("reconcile"):
        deleted, silver_version = reconcile_deletes(
            ref, connector, load.warehouse, load.names, load.run_id, load.started, load.say, read_ahead=source_keys
        )
    report = empty_report(
        ref, load.run_id, load.started, files_quarantined, drop, deleted=deleted, silver_version=silver_version
    )
    return _recorded(load, report, summary=False)


def _judged_in_slices(
    load: _Load,
    this_run: pl.LazyFrame,
    sent: Sent,
    compiled: CompiledSuite,
    staging: Path,
    people: PeopleRegister | None,
    *,
    validate: bool,
    link: bool,
) -> _Judged:
    """This run's bronze rows judged and staged as Parquet (pipeline/staging.py), then checked
    against the table's recent loads (pipeline/guards.py).

    Bounded memory: the load is judged in slices of rows; only the narrow duplicate decisions (row,
    verdict) span the whole load. Slices are staged and committed to quarantine and silver once
    each, so the load stays one transaction per table."""
    ref, clock = load.ref, load.clock
    outcome = Outcome()
    with clock.stage("duplicates"):
        release_unused()  # what the extraction and delta-rs' bronze write freed (pipeline/memory.py)
        extracted, watermark_from, watermark_to = extent(ref, this_run)
        sent.check(extracted, str(load.names.bronze))  # rows in: every row the source sent is in bronze
        load.say(f"{ref.key}: {extracted:,} rows extracted; normalising and validating")
        # Versions are ordered within this load, then against silver (pipeline/versions.py).
        versioned = ref.table.version_column is not None and load.warehouse.exists(load.names.silver)
        silver_now = load.warehouse.scan(load.names.silver) if versioned else None
        decisions = with_superseded_by_silver(
            ref, this_run, silver_now, duplicate_decisions(ref, this_run, extracted, staging), row=ROW
        )
    for number, first in enumerate(range(0, extracted, CHUNK_ROWS)):
        with clock.stage("bronze_read"):
            raw = slice_of(this_run, first).sort(ROW).collect()
            # The duplicate pass normalised the key and version of these rows already.
            known = normalised_keys(ref, staging, number, raw)
        flagged = judge_slice(
            ref, raw, decisions, compiled, people, clock, validate=validate, link=link, known=known
        )
        with clock.stage("stage"):
            outcome.add(flagged)
            stage_slice(ref, raw, flagged, staging, number, load.run_id, load.started)
    # Before anything reaches quarantine or silver: a load far worse than the table's recent ones
    # says the source changed (guards.py); it is refused, and its bronze rows stay unseen.
    with clock.stage("bookkeeping"):
        check_quarantine_jump(
            ref, load_history(ref, load.warehouse), extracted, outcome.quarantined, outcome.rule_counts
        )
    return _Judged(extracted, watermark_from, watermark_to, outcome)


def _write_quarantine(load: _Load, judged: _Judged, staging: Path) -> int:
    """The staged rows that broke an error rule, committed to quarantine as this run's; its version."""
    load.say(f"{load.ref.key}: writing {judged.outcome.quarantined:,} rows to quarantine")
    with load.clock.stage("quarantine_write"):
        release_unused()  # what judging freed, before delta-rs allocates (pipeline/memory.py)
        return load.warehouse.replace_run(
            load.names.quarantine,
            staged(staging, "quarantine"),
            load.run_id,
            description=f"rows of {load.ref.key} that broke an error rule, with their original values",
        )


def _merge_into_silver(load: _Load, judged: _Judged, staging: Path, gone: pl.DataFrame | None) -> int:
    """The staged rows merged into silver (and their sensitive columns into the sensitive table),
    newer versions winning, with `gone`'s keys tombstoned in the same MERGE; silver's version."""
    ref, names, warehouse = load.ref, load.names, load.warehouse
    tombstones = Tombstones(gone, load.started) if gone is not None else None
    load.say(f"{ref.key}: merging {judged.outcome.landed:,} rows into silver")
    with load.clock.stage("merge"):
        release_unused()
        # The MERGE's key range (the landing rows' and the tombstones'): delta-rs skips the files
        # of silver outside it (Warehouse.merge). Read from the staged keys alone.
        landing = staged_files(staging, "silver")
        bounds = key_bounds(
            pl.scan_parquet(landing) if landing else None, gone, columns=ref.entity.primary_key
        ) if warehouse.exists(names.silver) else None
        silver_version = warehouse.merge(
            names.silver,
            staged(staging, "silver"),
            ref.entity.primary_key,
            load.run_id,
            newer_wins_on=version_order(ref.table),
            description=ref.entity.description,
            tombstones=tombstones,
            bounds=bounds,
            files=landing,
        )
        if names.sensitive is not None:
            warehouse.merge(
                names.sensitive,
                staged(staging, "sensitive"),
                ref.entity.primary_key,
                load.run_id,
                newer_wins_on=version_order(ref.table),
                description=f"the sensitive columns of {names.silver}, by the same key",
                tombstones=tombstones if warehouse.exists(names.sensitive) else None,
                bounds=bounds,
                files=staged_files(staging, "sensitive"),
            )
    return silver_version


def _recorded(load: _Load, report: LoadReport, *, summary: bool = True) -> LoadReport:
    """The report, written as the load record (which moves the high-water mark), with its stage
    seconds final and in pipeline order. The report holds the clock's own dict until then, so that
    writing the record is counted too."""
    with load.clock.stage("bookkeeping"):
        record_load(load.warehouse, report)
    final, final_cpu = load.clock.report(), load.clock.report(cpu=True)
    report.stages.clear()
    report.stages.update(final)
    report.stages_cpu.clear()
    report.stages_cpu.update(final_cpu)
    if summary:
        load.say(f"{load.ref.key}: stage seconds: {load.clock.summary()}")
    return report
