"""Weekly Delta maintenance: compact (z-order big tables), checkpoint, vacuum, clean the log.

`maintenance_definitions(table_uris)` gives a `warehouse_maintenance` job and its weekly
schedule. Each table's figures are logged as an AssetObservation on the table's asset
(`layer/domain/table`) and summed in the op's output metadata.
"""

# No `from __future__ import annotations`: Dagster reads the op's context annotation at
# definition time.

from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from assets.resources import WarehouseResource
from warehouse.committed import is_run_scoped, remove_orphans
from warehouse.maintenance import (
    DEFAULT_RETENTION_HOURS,
    DEFAULT_ZORDER_MIN_BYTES,
    MaintenanceResult,
    maintain_table,
)
from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

SCHEDULE_CRON = "0 3 * * 0"  # Sunday 03:00, a quiet hour for the ministries' loads
TIMEZONE = "Asia/Ho_Chi_Minh"


class MaintenanceConfig(dg.Config):
    retention_hours: int = DEFAULT_RETENTION_HOURS
    zorder_min_bytes: int = DEFAULT_ZORDER_MIN_BYTES


def _summary_markdown(results: Sequence[MaintenanceResult]) -> str:
    lines = [
        "| table | files before | files after | bytes before | bytes after | vacuumed | z-order |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.table_uri} | {r.before.live_files} | {r.after.live_files} | "
            f"{r.before.stored_bytes} | {r.after.stored_bytes} | {r.files_vacuumed} | "
            f"{', '.join(r.zordered_by) or '-'} |"
        )
    return "\n".join(lines)


def maintenance_definitions(
    table_uris: Callable[[StorageSettings], list[tuple[str, str]]],
    *,
    zorder_by: Mapping[str, Sequence[str]] | None = None,
) -> dg.Definitions:
    """The `warehouse_maintenance` job over `table_uris()` (pairs of `layer.domain.table`, URI,
    asked at run time of the warehouse's settings) and its Sunday 03:00 schedule; `zorder_by` names key columns per table."""
    zorder = dict(zorder_by or {})

    @dg.op(
        name="maintain_delta_tables",
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        tags={"kind": "delta"},
    )
    def maintain_delta_tables(
        context: dg.OpExecutionContext, config: MaintenanceConfig, warehouse: WarehouseResource
    ) -> dg.Output[int]:
        settings = warehouse.settings()
        results: list[MaintenanceResult] = []
        orphans_removed = 0
        for name, uri in table_uris(settings):
            # Rows of loads that died before their load record: invisible to readers, removed here.
            table_name = TableName.parse(name)
            if is_run_scoped(table_name):
                orphans = remove_orphans(Warehouse(settings), table_name)
                orphans_removed += orphans.rows
                if orphans.rows:
                    context.log.info(f"{name}: removed {orphans.rows} rows of {len(orphans.run_ids)} run(s) that never committed")
            result = maintain_table(
                settings,
                uri,
                zorder_by=zorder.get(name, ()),
                zorder_min_bytes=config.zorder_min_bytes,
                retention_hours=config.retention_hours,
            )
            results.append(result)
            context.log_event(
                dg.AssetObservation(
                    asset_key=dg.AssetKey(name.split(".")),
                    metadata={**result.as_metadata(), "skipped": "; ".join(result.skipped)},
                )
            )
            context.log.info(
                f"{name}: files {result.before.live_files} → {result.after.live_files}, "
                f"stored bytes {result.before.stored_bytes} → {result.after.stored_bytes}, "
                f"vacuumed {result.files_vacuumed}"
            )
        return dg.Output(
            len(results),
            metadata={
                "tables": len(results),
                "files_before": sum(r.before.live_files for r in results),
                "files_after": sum(r.after.live_files for r in results),
                "stored_bytes_before": sum(r.before.stored_bytes for r in results),
                "stored_bytes_after": sum(r.after.stored_bytes for r in results),
                "files_vacuumed": sum(r.files_vacuumed for r in results),
                "orphan_rows_removed": orphans_removed,
                "summary": dg.MetadataValue.md(_summary_markdown(results)),
            },
        )

    @dg.job(name="warehouse_maintenance", tags={"ndc/kind": "maintenance"})
    def warehouse_maintenance() -> None:
        maintain_delta_tables()

    schedule = dg.ScheduleDefinition(
        name="warehouse_maintenance_weekly",
        job=warehouse_maintenance,
        cron_schedule=SCHEDULE_CRON,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return dg.Definitions(jobs=[warehouse_maintenance], schedules=[schedule])
