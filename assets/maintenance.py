"""Weekly Delta maintenance: compact (z-order big tables), checkpoint, vacuum, clean the log.

`maintenance_definitions(table_uris)` gives a `warehouse_maintenance` job and its weekly
schedule. Each table's figures are logged as an AssetObservation on the table's asset
(`layer/domain/table`) and summed in the op's output metadata.
"""

# No `from __future__ import annotations`: Dagster reads the op's context annotation at
# definition time.

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Self

import dagster as dg

from warehouse.maintenance import (
    DEFAULT_RETENTION_HOURS,
    DEFAULT_ZORDER_MIN_BYTES,
    MaintenanceResult,
    maintain_table,
)
from warehouse.storage import StorageSettings

RESOURCE_KEY = "maintenance_storage"
SCHEDULE_CRON = "0 3 * * 0"  # Sunday 03:00, a quiet hour for the ministries' loads
TIMEZONE = "Asia/Ho_Chi_Minh"

_ENV_FIELDS = {
    "warehouse_uri": "NDC_WAREHOUSE_URI",
    "gold_uri": "NDC_GOLD_URI",
    "s3_endpoint": "NDC_S3_ENDPOINT",
    "aws_region": "AWS_REGION",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
}


class MaintenanceStorage(dg.ConfigurableResource):
    """Storage settings for maintenance; empty fields fall back to the process environment."""

    warehouse_uri: str = ""
    gold_uri: str = ""
    s3_endpoint: str = ""
    aws_region: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    retention_hours: int = DEFAULT_RETENTION_HOURS
    zorder_min_bytes: int = DEFAULT_ZORDER_MIN_BYTES

    def settings(self) -> StorageSettings:
        overrides = {env: getattr(self, field) for field, env in _ENV_FIELDS.items()}
        return StorageSettings.from_env({**os.environ, **{k: v for k, v in overrides.items() if v}})

    @classmethod
    def from_env_vars(cls) -> Self:
        """Every field an EnvVar (resolved at run time, never shown in the UI) where it is set
        when the definitions load; unset ones keep the local defaults."""
        fields = {field: dg.EnvVar(env) for field, env in _ENV_FIELDS.items() if os.environ.get(env)}
        return cls(**fields)


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
    table_uris: Callable[[], list[tuple[str, str]]],
    *,
    zorder_by: Mapping[str, Sequence[str]] | None = None,
) -> dg.Definitions:
    """The `warehouse_maintenance` job over `table_uris()` (pairs of `layer.domain.table`, URI,
    asked at run time) and its Sunday 03:00 schedule; `zorder_by` names key columns per table."""
    zorder = dict(zorder_by or {})

    @dg.op(
        name="maintain_delta_tables",
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        tags={"kind": "delta"},
    )
    def maintain_delta_tables(
        context: dg.OpExecutionContext, maintenance_storage: MaintenanceStorage
    ) -> dg.Output[int]:
        settings = maintenance_storage.settings()
        results: list[MaintenanceResult] = []
        for name, uri in table_uris():
            result = maintain_table(
                settings,
                uri,
                zorder_by=zorder.get(name, ()),
                zorder_min_bytes=maintenance_storage.zorder_min_bytes,
                retention_hours=maintenance_storage.retention_hours,
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
    return dg.Definitions(
        jobs=[warehouse_maintenance],
        schedules=[schedule],
        resources={RESOURCE_KEY: MaintenanceStorage.from_env_vars()},
    )
