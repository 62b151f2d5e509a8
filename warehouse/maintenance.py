"""Keeping Delta tables fast and small: compaction, z-order, checkpoints, vacuum, log clean-up.

Every step reports figures (files and bytes before/after, files vacuumed, log files removed) so
the maintenance job can log them as metadata and an operator can see what each run bought.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from deltalake import DeltaTable

from warehouse.catalog import LOG_DIR
from warehouse.commit import with_commit_retry
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings

DEFAULT_RETENTION_HOURS = 7 * 24  # Delta's own default for deletedFileRetentionDuration
DEFAULT_ZORDER_MIN_BYTES = 1 << 30  # z-order only pays off on large tables (rewrites every file)


@dataclass(frozen=True)
class StorageFigures:
    """What a table occupies: live data files (the current snapshot) and every stored object."""

    live_files: int
    live_bytes: int
    stored_objects: int
    stored_bytes: int
    data_objects: int  # stored parquet files, referenced or not (what vacuum reclaims)
    data_bytes: int
    log_files: int


@dataclass(frozen=True)
class MaintenanceResult:
    table_uri: str
    version_before: int
    version_after: int
    before: StorageFigures
    after: StorageFigures
    files_compacted: int  # data files rewritten (removed) by optimize
    files_written: int  # data files optimize wrote in their place
    zordered_by: tuple[str, ...] = ()
    checkpoint_version: int | None = None
    files_vacuumed: int = 0
    log_files_removed: int = 0
    skipped: tuple[str, ...] = field(default=())

    def as_metadata(self) -> dict[str, int | str]:
        """Flat figures for Dagster metadata / logs (ints and strings only)."""
        flat: dict[str, int | str] = {
            "table_uri": self.table_uri,
            "version_before": self.version_before,
            "version_after": self.version_after,
            "files_compacted": self.files_compacted,
            "files_written": self.files_written,
            "files_vacuumed": self.files_vacuumed,
            "log_files_removed": self.log_files_removed,
            "zordered_by": ",".join(self.zordered_by),
            "checkpoint_version": -1 if self.checkpoint_version is None else self.checkpoint_version,
        }
        for when, figures in (("before", self.before), ("after", self.after)):
            for name, value in asdict(figures).items():
                flat[f"{name}_{when}"] = value
        return flat


def _live_figures(table: DeltaTable) -> tuple[int, int]:
    actions = table.get_add_actions(flatten=True)
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    return len(sizes), int(sum(sizes))


def storage_figures(settings: StorageSettings, table_uri: str) -> StorageFigures:
    """Count the table's live files (log) and its stored objects (listing, incl. tombstones)."""
    table = DeltaTable(table_uri, storage_options=settings.delta_storage_options())
    live_files, live_bytes = _live_figures(table)
    objects = list(ObjectStore.of(settings).list(table_uri))
    log_files = sum(1 for obj in objects if f"/{LOG_DIR}/" in obj.uri)
    data = [obj for obj in objects if f"/{LOG_DIR}/" not in obj.uri]
    return StorageFigures(
        live_files=live_files,
        live_bytes=live_bytes,
        stored_objects=len(objects),
        stored_bytes=sum(obj.size for obj in objects),
        data_objects=len(data),
        data_bytes=sum(obj.size for obj in data),
        log_files=log_files,
    )


def maintain_table(
    settings: StorageSettings,
    table_uri: str,
    *,
    zorder_by: Sequence[str] = (),
    zorder_min_bytes: int = DEFAULT_ZORDER_MIN_BYTES,
    target_file_bytes: int | None = None,
    retention_hours: int = DEFAULT_RETENTION_HOURS,
    checkpoint: bool = True,
    vacuum: bool = True,
    cleanup_log: bool = True,
) -> MaintenanceResult:
    """Compact (or z-order large tables), checkpoint, vacuum and clean up one Delta table.

    Z-ordering rewrites every file, so it runs only when `zorder_by` is given and the table's
    live data is at least `zorder_min_bytes`; otherwise small files are bin-packed. Vacuum keeps
    files a reader of the last `retention_hours` may still need (default 7 days); a shorter
    retention is an explicit choice of the caller and disables Delta's safety check.
    """
    options = settings.delta_storage_options()
    before = storage_figures(settings, table_uri)
    version_before = DeltaTable(table_uri, storage_options=options).version()
    skipped: list[str] = []

    zorder_columns = tuple(zorder_by) if zorder_by and before.live_bytes >= zorder_min_bytes else ()
    if zorder_by and not zorder_columns:
        skipped.append(f"z-order (live bytes {before.live_bytes} < {zorder_min_bytes})")

    def optimize() -> dict[str, Any]:
        table = DeltaTable(table_uri, storage_options=options)
        if zorder_columns:
            return table.optimize.z_order(list(zorder_columns), target_size=target_file_bytes)
        return table.optimize.compact(target_size=target_file_bytes)

    metrics = with_commit_retry(optimize)

    checkpoint_version = None
    if checkpoint:
        table = DeltaTable(table_uri, storage_options=options)
        table.create_checkpoint()
        checkpoint_version = table.version()

    files_vacuumed = 0
    if vacuum:

        def run_vacuum() -> list[str]:
            return DeltaTable(table_uri, storage_options=options).vacuum(
                retention_hours=retention_hours,
                dry_run=False,
                enforce_retention_duration=retention_hours >= DEFAULT_RETENTION_HOURS,
            )

        files_vacuumed = len(with_commit_retry(run_vacuum))

    if cleanup_log:
        # Removes log entries older than delta.logRetentionDuration (30 days by default) that a
        # checkpoint has made redundant.
        DeltaTable(table_uri, storage_options=options).cleanup_metadata()

    after = storage_figures(settings, table_uri)
    return MaintenanceResult(
        table_uri=table_uri,
        version_before=version_before,
        version_after=DeltaTable(table_uri, storage_options=options).version(),
        before=before,
        after=after,
        files_compacted=int(metrics.get("numFilesRemoved", 0)),
        files_written=int(metrics.get("numFilesAdded", 0)),
        zordered_by=zorder_columns,
        checkpoint_version=checkpoint_version,
        files_vacuumed=files_vacuumed,
        log_files_removed=max(0, before.log_files - after.log_files),
        skipped=tuple(skipped),
    )
