"""Delta tables by name (`layer.domain.table`): idempotent appends, MERGE upserts, reads and listing.

`pl` and `pa` are Polars and PyArrow imported on first use (_LazyModule): naming and listing
tables (`ndc tables`) needs deltalake alone, and every other function uses them as usual.

Over 300 lines because every write to a Delta table (append, overwrite, MERGE with its key range
and tombstones) goes through here, so that idempotence by run id and commit retries live in one
place.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake

from warehouse.commit import with_commit_retry
from warehouse.file_commit import ROW_GROUP_ROWS, TableExists, create_table_from_files
from warehouse.objects import ObjectStore
from warehouse.storage import Layer, StorageSettings, is_s3_uri

log = logging.getLogger("ndc.warehouse")

class _LazyModule:
    """A module imported when one of its attributes is first asked for (then Python's cache)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl
    import pyarrow as pa

    # Rows to write: a table, a stream, or a function making a fresh stream (so a retried commit can re-read it).
    Rows = pa.Table | pa.RecordBatchReader | Callable[[], pa.RecordBatchReader]
else:
    pl, pa = _LazyModule("polars"), _LazyModule("pyarrow")

RUN_ID = "_run_id"  # every warehouse row says which run wrote it: re-runs replace, never duplicate
CHANGE_FEED = {"delta.enableChangeDataFeed": "true"}  # table property of every silver table

# The Parquet writer's settings for our streamed writes (bronze, quarantine, a first load of
# silver). delta-rs' Parquet writer builds each row group in memory, and its default row group is
# 1M rows: writing the bench's 1M-row silver took ~720 MiB above the process's size, ~550 with
# row groups of 131k rows (measured apart, bench/bench_memory.py for the load). 256k rows (the
# load's slice) bound it whatever the table's size, at files ~8% larger (66 MiB instead of 61 for
# that silver). Snappy as delta-rs' default: WriterProperties' own default is uncompressed.
STREAMED_WRITES = WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="SNAPPY")


@dataclass(frozen=True)
class TableName:
    layer: Layer
    domain: str
    table: str

    @classmethod
    def parse(cls, dotted: str) -> TableName:
        parts = dotted.split(".")
        if len(parts) != 3:
            raise ValueError(f"a table name is layer.domain.table, got {dotted!r}")
        return cls(*parts)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.layer}.{self.domain}.{self.table}"


@dataclass(frozen=True)
class TableInfo:
    name: str
    uri: str
    rows: int
    version: int
    updated_at: datetime | None


@dataclass(frozen=True)
class Warehouse:
    settings: StorageSettings

    @classmethod
    def from_env(cls) -> Warehouse:
        return cls(StorageSettings.from_env())

    def uri(self, name: TableName) -> str:
        return self.settings.table_uri(name.layer, name.domain, name.table)

    @property
    def _options(self) -> dict[str, str] | None:
        return self.settings.delta_storage_options()

    def exists(self, name: TableName) -> bool:
        return DeltaTable.is_deltatable(self.uri(name), storage_options=self._options)

    def table(self, name: TableName) -> DeltaTable:
        return DeltaTable(self.uri(name), storage_options=self._options)

    def version(self, name: TableName) -> int | None:
        return self.table(name).version() if self.exists(name) else None

    def replace_run(
        self,
        name: TableName,
        data: Rows,
        run_id: str,
        *,
        also_matching: dict[str, str] | None = None,
        description: str = "",
    ) -> int:
        """Write one run's rows, replacing whatever that run wrote before (an idempotent append).

        The first write creates the table; later ones overwrite only the rows of this run id (and
        of `also_matching` column values), in one commit, so a retried run never duplicates and
        other runs' rows are untouched.
        """
        uri = self.uri(name)
        data = _given_once(data, name)
        match = {RUN_ID: run_id, **(also_matching or {})}
        predicate = " AND ".join(f"{_ident(k)} = '{_sql_string(v)}'" for k, v in match.items())

        def write() -> int:
            # Written through a table object, whose version is then this commit's own, not the
            # table's latest: a racing writer may commit in between, and the load record must
            # cite the version this run wrote.
            table = self.table(name) if self.exists(name) else None
            exists = table is not None
            write_deltalake(
                table if table is not None else uri,
                _rows(data),
                mode="overwrite" if exists else "append",
                predicate=predicate if exists else None,
                schema_mode="merge",  # our own tables gain columns over releases
                storage_options=self._options,
                writer_properties=STREAMED_WRITES,
                description=description or None,
                commit_properties=CommitProperties(custom_metadata={"ndc.run_id": run_id}),
            )
            return table.version() if table is not None else self.table(name).version()

        return with_commit_retry(write)

    def merge(
        self,
        name: TableName,
        data: Rows,
        keys: Sequence[str],
        run_id: str,
        *,
        newer_wins_on: str | None = None,
        description: str = "",
        tombstones: Tombstones | None = None,
        bounds: KeyBounds | None = None,
        files: Sequence[Path] = (),
    ) -> int:
        """Upsert rows by primary key with Delta MERGE (creating the table on first load).

        `files`, the same rows as Parquet files in the warehouse's format (file_commit.TABLE_PARQUET),
        let a first load commit them as they are instead of writing the rows again.

        With `newer_wins_on`, a matched row is only replaced by one at least as new, so a late
        or replayed batch never overwrites fresher data. `tombstones` (keys deleted at the
        source) are marked in the same MERGE: copy-on-write rewrites every file a matched key
        lives in, so a second MERGE for them would rewrite the table a second time.

        `bounds` (key_bounds: the smallest and largest key of the rows and tombstones) add
        `t.key BETWEEN lo AND hi` to the MERGE's predicate: delta-rs then skips, by their
        statistics, the files whose keys all lie outside (it derives no such range itself from a
        streamed source), so a MERGE whose keys are clustered (a table with growing keys, whose
        nights touch its newest rows) scans and rewrites only the files that hold that range.
        Sound: no target row outside the range can match a source key.
        """
        data = _given_once(data, name)
        if tombstones is not None and tombstones.keys.height and self.exists(name):
            return self._merge_with_tombstones(name, data, keys, run_id, newer_wins_on, tombstones, bounds)

        def upsert() -> int:
            if not self.exists(name):
                try:
                    return self._create(name, data, files, run_id, description)
                except TableExists:
                    pass  # another writer created it meanwhile: merge into theirs
            predicate = _join_predicate(keys, bounds)
            update_when = None
            if newer_wins_on is not None:
                column = _ident(newer_wins_on)
                update_when = f"t.{column} IS NULL OR s.{column} >= t.{column}"
            table = self.table(name)  # its version after execute() is this commit's (see replace_run)
            metrics = (
                table
                .merge(
                    _rows(data),
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    commit_properties=CommitProperties(custom_metadata={"ndc.run_id": run_id}),
                )
                .when_matched_update_all(predicate=update_when)
                .when_not_matched_insert_all()
                .execute()
            )
            _log_merge(name, metrics)
            return table.version()

        return with_commit_retry(upsert)

    def _create(self, name: TableName, data: Rows, files: Sequence[Path], run_id: str, description: str) -> int:
        """A new table holding `data` (or the very `files` of it), in one commit."""
        uri = self.uri(name)
        # Silver keeps Delta's change data feed: every insert, update (before and after) and
        # tombstone stays readable (`ndc changes`, warehouse/changes.py).
        configuration = CHANGE_FEED if name.layer == "silver" else None
        commit = CommitProperties(custom_metadata={"ndc.run_id": run_id})
        if files and (is_s3_uri(uri) or "://" not in uri):  # a store ObjectStore can write
            create_table_from_files(
                uri,
                files,
                ObjectStore.of(self.settings),
                storage_options=self._options,
                configuration=configuration,
                description=description or None,
                commit_properties=commit,
            )
        else:
            write_deltalake(
                uri,
                _rows(data),
                mode="append",
                configuration=configuration,
                storage_options=self._options,
                writer_properties=STREAMED_WRITES,
                description=description or None,
                commit_properties=commit,
            )
        return self.table(name).version()

    def _merge_with_tombstones(
        self,
        name: TableName,
        data: Rows,
        keys: Sequence[str],
        run_id: str,
        newer_wins_on: str | None,
        tombstones: Tombstones,
        bounds: KeyBounds | None,
    ) -> int:
        """One MERGE: the rows upserted as in `merge`, and the tombstones' keys marked deleted.
        The source carries a marker column (never written) telling the two kinds of row apart."""
        predicate = _join_predicate(keys, bounds)
        is_tombstone = f"s.{_ident(TOMBSTONE_MARK)}"
        update_when = f"NOT {is_tombstone}"
        if newer_wins_on is not None:
            column = _ident(newer_wins_on)
            update_when += f" AND (t.{column} IS NULL OR s.{column} >= t.{column})"

        def upsert() -> int:
            table = self.table(name)
            metrics = (
                table
                .merge(
                    _with_tombstones(_rows(data), tombstones.keys),
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    commit_properties=CommitProperties(custom_metadata={"ndc.run_id": run_id}),
                )
                # The first clause that matches a row applies: a tombstone never reaches the others.
                .when_matched_update(_tombstone_updates(tombstones.at, run_id), predicate=is_tombstone)
                .when_matched_update_all(predicate=update_when, except_cols=[TOMBSTONE_MARK])
                .when_not_matched_insert_all(predicate=f"NOT {is_tombstone}", except_cols=[TOMBSTONE_MARK])
                .execute()
            )
            _log_merge(name, metrics)
            return table.version()

        return with_commit_retry(upsert)

    def tombstone(
        self, name: TableName, keys: pl.DataFrame, key_columns: Sequence[str], run_id: str, at: datetime
    ) -> int:
        """Mark rows deleted at the source (`_deleted`, `_deleted_at`), keeping their history."""

        predicate = _join_predicate(key_columns, key_bounds(keys, columns=key_columns))

        def mark() -> int:
            table = self.table(name)
            metrics = (
                table
                .merge(
                    keys.to_arrow(),
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=CommitProperties(custom_metadata={"ndc.run_id": run_id}),
                )
                .when_matched_update(_tombstone_updates(at, run_id))
                .execute()
            )
            _log_merge(name, metrics)
            return table.version()

        return with_commit_retry(mark)

    def overwrite(self, name: TableName, data: pa.Table, *, description: str = "") -> int:
        """Replace a whole table in one commit (gold tables are rebuilt from silver each run)."""

        def write() -> int:
            write_deltalake(
                self.uri(name),
                data,
                mode="overwrite",
                schema_mode="overwrite",
                storage_options=self._options,
                description=description or None,
            )
            return self.table(name).version()

        return with_commit_retry(write)

    def scan(self, name: TableName) -> pl.LazyFrame:
        return pl.scan_delta(self.uri(name), storage_options=self.settings.polars_storage_options())

    def read(self, name: TableName) -> pl.DataFrame:
        return self.scan(name).collect()

    def info(self, name: TableName, table: DeltaTable | None = None) -> TableInfo:
        """Rows (from the log's per-file statistics: no data file is read), version, last commit.
        `table`: the table already opened, so that its log is not read a second time."""
        table = self.table(name) if table is None else table
        actions = table.get_add_actions(flatten=True)
        rows_column = actions.column("num_records") if actions.num_rows else None
        rows = sum(v for v in rows_column.to_pylist() if v) if rows_column is not None else 0
        history = table.history(1)
        stamp = history[0].get("timestamp") if history else None
        updated = datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None
        return TableInfo(str(name), self.uri(name), int(rows), table.version(), updated)

    def infos(self, names: Iterable[TableName]) -> list[TableInfo]:
        return [self.info(name) for name in names if self.exists(name)]


def _rows(data: Rows) -> pa.Table | pa.RecordBatchReader:
    return data() if callable(data) else data


class StreamSpent(RuntimeError):
    """A write's rows were a stream, read once by an attempt that did not commit."""


def _given_once(data: Rows, name: TableName) -> Rows:
    """`data` as each attempt of one write receives it: a stream (the extraction, which cannot be
    read twice) is given to the first attempt only. A second attempt (a lost commit race, or a
    first load finding the table created meanwhile) would find it drained and commit nothing in
    place of the run's rows (measured: a run's bronze rows replaced by none, the load then
    counting 0 extracted); it raises StreamSpent instead, and the step's retry reads the source
    anew. Tables and functions making fresh streams are re-read by every attempt."""
    if callable(data) or not isinstance(data, pa.RecordBatchReader):
        return data
    given = False

    def first_attempt_only() -> pa.RecordBatchReader:
        nonlocal given
        if given:
            raise StreamSpent(
                f"{name}: another writer committed first, and this run's rows were a stream that "
                "cannot be read twice; nothing of this run was committed. The load is run again "
                "from the source (the step's retry, or run it again)."
            )
        given = True
        return data

    return first_attempt_only


TOMBSTONE_MARK = "_ndc_tombstone"  # in a MERGE's source only: this row is a key deleted at the source


@dataclass(frozen=True)
class Tombstones:
    """Keys deleted at the source, to mark in silver, and when the load saw them gone."""

    keys: pl.DataFrame
    at: datetime


# Per key column: the smallest and largest key a MERGE's source holds (see Warehouse.merge).
KeyBounds = Mapping[str, tuple[Any, Any]]


def key_bounds(*frames: pl.LazyFrame | pl.DataFrame | None, columns: Sequence[str]) -> KeyBounds | None:
    """The smallest and largest value of each key column over `frames` (the MERGE's rows and
    its tombstones), for the key columns whose type a SQL literal states exactly (strings,
    integers); None when no frame has a row or no key column qualifies. Reads the key columns
    only (the load's staged slices carry no statistics: it scans those columns)."""
    parts = [f.lazy().select(columns) for f in frames if f is not None]
    if not parts:
        return None
    both = pl.concat(parts, how="vertical_relaxed")
    schema = both.collect_schema()
    usable = [c for c in columns if schema[c] == pl.String or schema[c].is_integer()]
    if not usable:
        return None
    row = both.select(
        *(pl.col(c).min().alias(f"lo{i}") for i, c in enumerate(usable)),
        *(pl.col(c).max().alias(f"hi{i}") for i, c in enumerate(usable)),
    ).collect().row(0, named=True)
    bounds = {c: (row[f"lo{i}"], row[f"hi{i}"]) for i, c in enumerate(usable) if row[f"lo{i}"] is not None}
    return bounds or None


def _join_predicate(keys: Sequence[str], bounds: KeyBounds | None) -> str:
    """`t.k = s.k AND …`, and `t.k BETWEEN lo AND hi` for each bounded key: a predicate on the
    target alone, which delta-rs uses to skip files by their statistics."""
    clauses = [f"t.{_ident(k)} = s.{_ident(k)}" for k in keys]
    for column, (low, high) in (bounds or {}).items():
        if column in keys:
            clauses.append(f"t.{_ident(column)} BETWEEN {_literal(low)} AND {_literal(high)}")
    return " AND ".join(clauses)


def _literal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"no exact SQL literal for a key bound {value!r}")
    return f"'{_sql_string(value)}'" if isinstance(value, str) else str(value)


def _log_merge(name: TableName, metrics: dict[str, Any]) -> None:
    """What a MERGE touched (delta-rs's own metrics): the files it rewrote is what it cost."""
    log.info(
        "%s: MERGE rewrote %s of %s files scanned (%s skipped by the key range), copied %s rows, "
        "updated %s, inserted %s",
        name, metrics.get("num_target_files_removed"), metrics.get("num_target_files_scanned"),
        metrics.get("num_target_files_skipped_during_scan"), metrics.get("num_target_rows_copied"),
        metrics.get("num_target_rows_updated"), metrics.get("num_target_rows_inserted"),
    )
    # Not the predicate itself: its key range names keys (personal IDs in silver) and logs are
    # not the restricted zone.
    log.debug("%s: MERGE metrics %s", name, metrics)


def _tombstone_updates(at: datetime, run_id: str) -> dict[str, str]:
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "_deleted": "true",
        "_deleted_at": f"CAST('{stamp}' AS TIMESTAMP)",
        RUN_ID: f"'{_sql_string(run_id)}'",
    }


def _with_tombstones(rows: pa.Table | pa.RecordBatchReader, keys: pl.DataFrame) -> pa.RecordBatchReader:
    """The rows with the marker false, then the tombstones' keys (other columns null) with it true."""
    schema = rows.schema.append(pa.field(TOMBSTONE_MARK, pa.bool_()))
    batches = rows.to_batches() if isinstance(rows, pa.Table) else rows

    def stream() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            marks = pa.array([False] * batch.num_rows, pa.bool_())
            yield pa.RecordBatch.from_arrays([*batch.columns, marks], schema=schema)
        n = keys.height
        columns = [
            keys[field.name].to_arrow().cast(field.type) if field.name in keys.columns
            else pa.array([True] * n, pa.bool_()) if field.name == TOMBSTONE_MARK
            else pa.nulls(n, field.type)
            for field in schema
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, stream())


def _sql_string(value: str) -> str:
    return value.replace("'", "''")


def _ident(column: str) -> str:
    return f"`{column}`"


def utc_now() -> datetime:
    return datetime.now(UTC)
