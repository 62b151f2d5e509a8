"""Tables that keep one slice per day (gold.kpi.data_standard): a re-run replaces its day, never adds to it."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from deltalake import write_deltalake

from warehouse.commit import with_commit_retry
from warehouse.tables import TableName, Warehouse

DAY = "day"


def replace_day(warehouse: Warehouse, name: TableName, rows: pa.Table, day: date, *, description: str = "") -> int:
    """Write `rows` as the table's slice for `day` in one commit, replacing that day's earlier rows
    (a second measurement the same day supersedes the first); other days are history and stay."""

    def write() -> int:
        exists = warehouse.exists(name)
        table = warehouse.table(name) if exists else None
        write_deltalake(
            table if table is not None else warehouse.uri(name),
            rows,
            mode="overwrite" if exists else "append",
            predicate=f"{DAY} = '{day.isoformat()}'" if exists else None,
            schema_mode="merge",
            storage_options=warehouse.settings.delta_storage_options(),
            description=description or None,
        )
        return table.version() if table is not None else warehouse.table(name).version()

    return with_commit_retry(write)
