"""Where one load writes and the columns it adds: the load's tables (bronze, quarantine, silver,
and the sensitive columns kept apart from silver) and the pipeline's own column names, shared by
every stage of a load and by the readers of its tables (gold, the data standard, the worklist)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalogue import TableRef
from warehouse.tables import RUN_ID, TableName

ROW = "_row"  # position of the row within its load: ties bronze, quarantine and silver together
INGESTED_AT, SOURCE_TABLE = "_ingested_at", "_source_table"
ERRORS, WARNINGS, RULES = "_errors", "_warnings", "_rules"
DELETED, DELETED_AT = "_deleted", "_deleted_at"  # tombstones: deletes are history, not holes
LOAD_COLUMNS = (ROW, RUN_ID, INGESTED_AT, SOURCE_TABLE)


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



# -- the names Dagster shows for one table: its load's op (the step key of a run) and its sensor --

LOAD_OP = "load"  # the op of one table's load: bronze, quarantine, silver and its checks
FILE_DROP_SENSOR = "file_drop"  # the sensor that starts a load when a file drop brings files


def table_op_name(ref: TableRef, kind: str = LOAD_OP) -> str:
    """`load_population__citizens`: the one place a per-table op or sensor name is built (the op
    of `assets/ministries.py`, the run config of `orchestration/runs.py`, the file-drop sensors)."""
    return f"{kind}_{ref.domain}__{ref.table.name}"


def table_of_op(name: str, kind: str = LOAD_OP) -> tuple[str, str] | None:
    """`load_population__citizens` → (`population`, `citizens`); None for any other op (gold, …)."""
    match = re.match(rf"^{re.escape(kind)}_(?P<domain>[A-Za-z0-9_]+?)__(?P<table>[A-Za-z0-9_]+)$", name)
    return (match["domain"], match["table"]) if match else None
