"""One table load: extract → bronze → normalise → link → validate → quarantine / silver → load record.

The sequence only; each stage lives in its own room: pipeline/bronze.py (the bronze stream),
judge.py (duplicates, judging, accounting), staging.py (slices staged as Parquet), deletes.py
(delete reconciliation), drops.py (file drops), cursor.py (the incremental cursor) and
load_report.py (the report and the load record). Plain Python; Dagster only calls it.
Every load proves its conservation: extracted = landed + quarantined + deduplicated.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from catalogue import TableRef, resolve_settings
from catalogue.check import compiled_suite
from connectors import ExtractRequest, open_connector
from connectors.base import prepared_read
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
from pipeline.load_report import LoadReport, empty_report, load_history, load_validation, record_load
from pipeline.memory import release_unused
from pipeline.names import ROW, LoadNames
from pipeline.stages import Progress, StageClock
from pipeline.staging import stage_slice, staged, staged_files
from pipeline.versions import version_order, with_superseded_by_silver
from warehouse.tables import RUN_ID, Tombstones, Warehouse, key_bounds, utc_now

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

    def say(message: str) -> None:
        log.info(message)
        if progress is not None:
            progress(message)

    started = utc_now()
    clock = StageClock()
    names = LoadNames.of(ref)
    connector = open_connector(ref.source.name, ref.source.connection.kind, resolve_settings(ref.source))
    # A SQL read runs in a child process (connectors/isolated.py) whose start-up (~0.5 s) would
    # otherwise come first: both the rows' and the source keys' start now, beside this set-up
    # (~0.3 s) and the extraction. Leaving the block ends them, read or not.
    with contextlib.ExitStack() as readers:
        rows = readers.enter_context(prepared_read(connector))
        # A load that reads part of the source reconciles against all of its keys, read beside the
        # judging once the extraction has ended (pipeline/deletes.py: SourceKeys). An incremental
        # load reads part of it unless the table has no watermark or no load history yet (then it
        # reads everything).
        incremental = since is None and until is None and not full_refresh
        reads_part = not (since is None and until is None) or (incremental and ref.table.watermark is not None)
        keys_reader = readers.enter_context(contextlib.ExitStack())
        source_keys = keys_reader.enter_context(SourceKeys.prepared(ref, connector, warehouse)) if reads_part else None
        # The suite is compiled before the source is touched: a rule the engine cannot compile fails
        # here, once, with nothing written (it used to fail after bronze, retried as if transient).
        # Compiled from the suite's JSON alone: a load never imports Great Expectations (seconds in
        # every step); `ndc docs serve` renders the validation result it stores (quality/render.py).
        suite, compiled = compiled_suite(ref.entity, today, with_ge=False)
        connector.check()
        is_drop = isinstance(connector, FileDropConnector)
        # A file drop's incremental cursor is the set of file versions already read, not a watermark.
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
        read_everything = since is None and until is None  # then bronze holds every source key
        scope = " the file versions not read yet" if is_drop and incremental else " everything"
        say(
            f"{ref.key}: extracting"
            + (f" from {ref.table.watermark} >= {since}" if since else scope)
            + (f" before {ref.table.watermark} {until}" if until else "")
        )
        if read_everything:  # bronze will hold every key: the keys' reader is ended unread
            keys_reader.close()
            source_keys = None
        drop: DropOutcome | None = None
        if isinstance(connector, FileDropConnector):
            drop = DropOutcome()
            files = files_to_read(ref, connector, request, warehouse, drop, incremental=incremental, say=say)
            batches = file_batches(ref, connector, request, files, drop, say)
        else:
            batches = rows.extract(request)
        # Extraction is a stream the bronze write pulls: its time is counted apart from the write's.
        batches = clock.pulling("extract", iter(batches), within="bronze_write")
        with clock.stage("bronze_write"):
            bronze_schema = (
                pa.schema(warehouse.table(names.bronze).schema().to_arrow()) if warehouse.exists(names.bronze) else None
            )
            sent = Sent()
            stream = bronze_stream(ref, batches, run_id, started, bronze_schema, say, sent)
        if stream is None:
            files_quarantined = quarantine_files(ref, connector, drop, warehouse, run_id, say)
            say(f"{ref.key}: nothing new")
            # A night whose only changes are deletions still has deletions to reconcile.
            with clock.stage("reconcile"):
                deleted, silver_version = reconcile_deletes(
                    ref, connector, warehouse, names, run_id, started, say, read_ahead=source_keys
                )
            report = empty_report(
                ref, run_id, started, files_quarantined, drop, deleted=deleted, silver_version=silver_version
            )
            with clock.stage("bookkeeping"):
                record_load(warehouse, report)
            _settle(report, clock)
            return report
        with clock.stage("bronze_write"):
            with sent.writing():
                bronze_version = warehouse.replace_run(
                    names.bronze,
                    stream,
                    run_id,
                    description=f"{ref.source.ministry}: {ref.table.table or 'query'} as extracted",
                )
            files_quarantined = quarantine_files(ref, connector, drop, warehouse, run_id, say)
        if source_keys is not None:
            source_keys.start()  # the extraction's connection is closed: one at a time, as before
        this_run = warehouse.scan(names.bronze).filter(pl.col(RUN_ID) == run_id)
        outcome = Outcome()
        with scratch_dir("load") as staging:
            # Bounded memory: the load is judged in slices of rows; only the narrow duplicate
            # decisions (row, verdict) span the whole load. Slices are staged as Parquet and committed
            # to quarantine and silver once each, so the load stays one transaction per table. The
            # slices hold personal data: the folder is private and swept by the next load after a kill.
            with clock.stage("duplicates"):
                release_unused()  # what the extraction and delta-rs' bronze write freed (pipeline/memory.py)
                extracted, watermark_from, watermark_to = extent(ref, this_run)
                sent.check(extracted, str(names.bronze))  # rows in: every row the source sent is in bronze
                say(f"{ref.key}: {extracted:,} rows extracted; normalising and validating")
                # Versions are ordered within this load, then against silver (pipeline/versions.py).
                versioned = ref.table.version_column is not None and warehouse.exists(names.silver)
                silver_now = warehouse.scan(names.silver) if versioned else None
                decisions = with_superseded_by_silver(
                    ref, this_run, silver_now, duplicate_decisions(ref, this_run, extracted, Path(staging)), row=ROW
                )
            for number, first in enumerate(range(0, extracted, CHUNK_ROWS)):
                with clock.stage("bronze_read"):
                    raw = slice_of(this_run, first).sort(ROW).collect()
                    # The duplicate pass normalised the key and version of these rows already.
                    known = normalised_keys(ref, Path(staging), number, raw)
                flagged = judge_slice(
                    ref, raw, decisions, compiled, people, clock, validate=validate, link=link, known=known
                )
                with clock.stage("stage"):
                    outcome.add(flagged)
                    stage_slice(ref, raw, flagged, Path(staging), number, run_id, started)
            # Before anything reaches quarantine or silver: a load far worse than the table's recent
            # ones says the source changed (guards.py); it is refused, and its bronze rows stay unseen.
            with clock.stage("bookkeeping"):
                check_quarantine_jump(ref, load_history(ref, warehouse), extracted, outcome.quarantined, outcome.rule_counts)
            say(f"{ref.key}: writing {outcome.quarantined:,} rows to quarantine")
            with clock.stage("quarantine_write"):
                release_unused()  # what judging freed, before delta-rs allocates (pipeline/memory.py)
                quarantine_version = warehouse.replace_run(
                    names.quarantine,
                    staged(Path(staging), "quarantine"),
                    run_id,
                    description=f"rows of {ref.key} that broke an error rule, with their original values",
                )
            # The keys the source no longer has are found before the MERGE and tombstoned by it:
            # one rewrite of silver's files, not two. A load that read everything holds the
            # source's keys already: reconcile against them.
            with clock.stage("reconcile"):
                gone = keys_to_tombstone(
                    ref, connector, warehouse, names, Path(staging), say,
                    whole_source=this_run if read_everything else None, read_ahead=source_keys,
                )
            tombstones = Tombstones(gone, started) if gone is not None else None
            say(f"{ref.key}: merging {outcome.landed:,} rows into silver")
            with clock.stage("merge"):
                release_unused()
                # The MERGE's key range (the landing rows' and the tombstones'): delta-rs skips the
                # files of silver outside it (Warehouse.merge). Read from the staged keys alone.
                landing = staged_files(Path(staging), "silver")
                bounds = key_bounds(
                    pl.scan_parquet(landing) if landing else None, gone, columns=ref.entity.primary_key
                ) if warehouse.exists(names.silver) else None
                silver_version = warehouse.merge(
                    names.silver,
                    staged(Path(staging), "silver"),
                    ref.entity.primary_key,
                    run_id,
                    newer_wins_on=version_order(ref.table),
                    description=ref.entity.description,
                    tombstones=tombstones,
                    bounds=bounds,
                    files=landing,
                )
                if names.sensitive is not None:
                    warehouse.merge(
                        names.sensitive,
                        staged(Path(staging), "sensitive"),
                        ref.entity.primary_key,
                        run_id,
                        newer_wins_on=version_order(ref.table),
                        description=f"the sensitive columns of {names.silver}, by the same key",
                        tombstones=tombstones if warehouse.exists(names.sensitive) else None,
                        bounds=bounds,
                        files=staged_files(Path(staging), "sensitive"),
                    )
    deleted = outcome.deleted + (gone.height if gone is not None else 0)
    with clock.stage("bookkeeping"):
        validation = load_validation(compiled, suite, dict(outcome.rule_counts), extracted, run_id)
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
        stages_cpu=clock.cpu,
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
    final, final_cpu = clock.report(), clock.report(cpu=True)
    report.stages.clear()
    report.stages.update(final)
    report.stages_cpu.clear()
    report.stages_cpu.update(final_cpu)

