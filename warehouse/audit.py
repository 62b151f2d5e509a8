"""The audit trail of analysts' SQL: who ran what, on which tables and personal data, with what outcome.

Every `ndc sql` query and export, refused ones included, is appended to `ops.audit.queries`, a
Delta table in the restricted zone created with `delta.appendOnly = true` (Delta writers refuse
to delete or rewrite its rows). NDC_AUDIT_URI can place it elsewhere, for analysts whose
storage key may append to an audit location but not read the raw zones.

The record is written before any result is shown: when it cannot be written the result is
withheld (fail closed), so no query is answered without a trace.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

import environment
from warehouse.storage import StorageSettings, is_s3_uri
from warehouse.tables import TableName

AUDIT = TableName("ops", "audit", "queries")
AUDIT_URI_ENV = "NDC_AUDIT_URI"
ANALYST_ENV = "NDC_ANALYST"
Outcome = Literal["ok", "refused", "error"]
# table name (layer.domain.table) → column → personal-data class ("none", "basic", "sensitive")
Classification = Mapping[str, Mapping[str, str]]

SCHEMA = pa.schema(
    [
        ("at", pa.timestamp("us", tz="UTC")),
        ("os_user", pa.string()),
        ("analyst", pa.string()),
        ("role", pa.string()),
        ("command", pa.string()),
        ("output", pa.string()),  # table (shown), csv or json (an export)
        ("query", pa.string()),
        ("tables", pa.list_(pa.string())),
        ("personal_columns", pa.list_(pa.string())),  # table.column:class
        ("rows", pa.int64()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
    ]
)


class AuditError(RuntimeError):
    """The audit record could not be written: the result is withheld."""


@dataclass(frozen=True)
class AuditRecord:
    query: str
    role: str
    output: str
    outcome: Outcome
    tables: tuple[str, ...] = ()
    personal_columns: tuple[str, ...] = ()
    rows: int | None = None
    reason: str | None = None
    command: str = "sql"


def audit_uri(settings: StorageSettings, environ: Mapping[str, str] | None = None) -> str:
    explicit = (environment.settings(environ).audit_uri or "").rstrip("/")
    return explicit or settings.table_uri(AUDIT.layer, AUDIT.domain, AUDIT.table)


def _options(settings: StorageSettings, uri: str) -> dict[str, str] | None:
    return settings.delta_storage_options() if is_s3_uri(uri) else None


def who() -> tuple[str, str | None]:
    """The OS account, and the analyst's own name when NDC_ANALYST gives one (shared accounts)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid())
    return user, environment.settings().analyst


def append(settings: StorageSettings, record: AuditRecord, *, at: datetime | None = None) -> None:
    """Append one record; AuditError (one line) when the trail cannot be written."""
    user, analyst = who()
    row = {
        "at": at or datetime.now(UTC),
        "os_user": user,
        "analyst": analyst,
        "role": record.role,
        "command": record.command,
        "output": record.output,
        "query": record.query,
        "tables": list(record.tables),
        "personal_columns": list(record.personal_columns),
        "rows": record.rows,
        "outcome": record.outcome,
        "reason": record.reason,
    }
    uri = audit_uri(settings)
    try:
        write_deltalake(
            uri,
            _record_table(row),
            mode="append",
            configuration={"delta.appendOnly": "true"},
            storage_options=_options(settings, uri),
            description="ndc sql audit trail (append-only)",
        )
    except Exception as error:  # whatever the storage says, the answer is withheld
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AuditError(
            f"the audit trail {uri} could not be written ({reason}); the result is withheld. "
            f"Use credentials that may append to it, or set {AUDIT_URI_ENV} to a location they can"
        ) from None


def _record_table(row: dict) -> pa.Table:
    """One record as an Arrow table with SCHEMA's columns and Delta types, built by Polars: PyArrow's
    own constructors import pandas and a cast imports pyarrow.compute (seconds of `ndc sql`'s
    start-up together)."""
    text, texts = pl.String, pl.List(pl.String)
    types = {"at": pl.Datetime("us", "UTC"), "tables": texts, "personal_columns": texts, "rows": pl.Int64}
    return pl.DataFrame([row], schema={name: types.get(name, text) for name in SCHEMA.names}).to_arrow()


def read_audit(settings: StorageSettings, *, since: datetime | None = None) -> pl.DataFrame:
    """The trail, oldest first (empty when nothing was ever audited)."""
    uri = audit_uri(settings)
    options = _options(settings, uri)
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return pl.from_arrow(SCHEMA.empty_table())  # type: ignore[return-value]
    frame = pl.read_delta(uri, storage_options=options)
    if since is not None:
        stamp = since if since.tzinfo else since.replace(tzinfo=UTC)
        frame = frame.filter(pl.col("at") >= stamp)
    return frame.sort("at")


_RANK = ("none", "basic", "sensitive")


def personal_data_classes(catalogue, gold: Classification) -> dict[str, dict[str, str]]:
    """Each table's classified columns: raw zones from the catalogue entities (silver and bronze
    carry canonical columns, quarantine the ministry's own names too), gold from `gold`."""
    classes: dict[str, dict[str, str]] = {}
    for ref in catalogue.tables:
        canonical = {c.name: c.pii for c in ref.entity.columns}
        mapped = {m.source: m.pii for m in ref.table.columns}
        for layer in ("bronze", "silver", "quarantine"):
            classes[f"{layer}.{ref.domain}.{ref.table.name}"] = (
                {**mapped, **canonical} if layer != "silver" else dict(canonical)
            )
        # Silver keeps sensitive columns in a table of their own, beside the basic one (same key).
        apart = {name: pii for name, pii in canonical.items() if pii == "sensitive" and name not in ref.entity.primary_key}
        if apart:
            keys = {name: canonical.get(name, "none") for name in ref.entity.primary_key}
            classes[f"silver.{ref.domain}.{ref.table.name}__sensitive"] = {**keys, **apart}
            silver = classes[f"silver.{ref.domain}.{ref.table.name}"]
            for name in apart:
                silver.pop(name, None)
        # Files quarantined whole: their bytes hold every column of the table, at its highest class.
        highest = "sensitive" if "sensitive" in canonical.values() else "basic"
        classes[f"quarantine.{ref.domain}.{ref.table.name}__files"] = {"content": highest}
        # The live worklist (pipeline/worklist.py): the ministry's row as sent, and its values beside the register's.
        keys_class = max((canonical.get(k, "none") for k in ref.entity.primary_key), key=_RANK.index)
        classes[f"quarantine.{ref.domain}.{ref.table.name}__worklist"] = {
            "record_key": keys_class, "record": highest, "ministry_values": "basic", "register_values": "basic",
        }
    for table, columns in gold.items():
        classes[table] = dict(columns)
    return classes


def personal_columns_touched(
    tables: Iterable[str], columns_read: Iterable[str], classes: Classification
) -> list[str]:
    """`table.column:class` for every personal column of the touched tables that the plan reads.

    The plan names columns, not which table they came from: a column name shared by two touched
    tables is reported for both (an audit may over-report, never under-report).
    """
    read = {c.lower() for c in columns_read}
    touched = []
    for table in tables:
        for column, kind in (classes.get(table) or {}).items():
            if kind != "none" and column.lower() in read:
                touched.append(f"{table}.{column}:{kind}")
    return touched


_SINCE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`7d`, `12h`, `30m`, or an ISO date/time (UTC when no zone is given)."""
    from datetime import timedelta

    now = now or datetime.now(UTC)
    if match := _SINCE.match(value):
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--since {value!r}: give e.g. 7d, 12h, 30m or 2026-11-01") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
