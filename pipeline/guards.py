"""Guards between a source and silver: schema drift, and loads too strange to promote.

Every kind of drift has one declared behaviour:

| drift | behaviour |
|---|---|
| a column added at the source | lands in bronze (schema grows), logged; unmapped, so silver is unchanged |
| an unmapped column dropped | bronze holds nulls for it from then on, logged |
| a mapped column dropped or renamed | the load stops before any write, one line naming source, table and column |
| a column's type changed (integer to text, …) | the load stops before any write, one line naming the column and both types |
| the share of quarantined rows jumps (`max_quarantine_jump`) | not promoted: silver untouched, one line with both rates and the top rules |
| a reconcile would tombstone too much of silver (`max_deleted_share`) | no tombstone written, one line with the count |

A refused load writes no load record, so its bronze rows stay invisible (warehouse/committed.py)
and the next run tries again; every refusal is an error that is not retried (a retry cannot help).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa

from catalogue import TableRef
from connectors.errors import SourceSchemaError

# Rates are only compared on loads big enough for a rate to mean something.
MIN_ROWS_FOR_RATES = 50
RECENT_LOADS = 5


class PromotionRefused(SourceSchemaError):
    """The load is refused before it reaches silver: its data changed too much to be trusted blindly."""


def _family(arrow_type: pa.DataType) -> str:
    """Types a column may move between without meaning another thing (int32 → int64, us → ns)."""
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "text"
    if pa.types.is_temporal(arrow_type):
        return "time"
    return str(arrow_type)


def retyped_columns(extracted: pa.Schema, bronze: pa.Schema | None) -> list[str]:
    """Columns whose type family differs from bronze's ("so_tien: int64 → string"); all-null
    columns carry no type and are skipped."""
    if bronze is None:
        return []
    changed = []
    for field in extracted:
        if field.name not in bronze.names or pa.types.is_null(field.type):
            continue
        before = bronze.field(field.name).type
        if not pa.types.is_null(before) and _family(before) != _family(field.type):
            changed.append(f"{field.name}: {before} → {field.type}")
    return changed


def check_types(ref: TableRef, extracted: pa.Schema, bronze: pa.Schema | None) -> None:
    if changed := retyped_columns(extracted, bronze):
        raise SourceSchemaError(
            ref.source.name,
            f"table '{ref.table.table or ref.table.name}': column types changed since the last load "
            f"({'; '.join(changed)})",
            "Ask the ministry about the schema change; nothing was written. If the new type is "
            "intended, move the table's bronze history aside so that bronze starts afresh.",
        )


def column_changes(extracted: pa.Schema, bronze: pa.Schema | None, load_columns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(columns the source added, columns it no longer sends) against bronze, load columns aside."""
    if bronze is None:
        return [], []
    added = [name for name in extracted.names if name not in bronze.names]
    dropped = [name for name in bronze.names if name not in extracted.names and name not in load_columns]
    return added, dropped


def recent_quarantine_rate(history: pl.DataFrame) -> float | None:
    """The median share of quarantined rows over the table's last loads of a meaningful size."""
    sized = history.filter(pl.col("extracted") >= MIN_ROWS_FOR_RATES).sort("finished_at").tail(RECENT_LOADS)
    if sized.is_empty():
        return None
    return float((sized["quarantined"] / sized["extracted"]).median())  # type: ignore[arg-type]


def check_quarantine_jump(
    ref: TableRef, history: pl.DataFrame, extracted: int, quarantined: int, rule_counts: Mapping[str, int]
) -> None:
    """Refuse promotion when this load's quarantine share is far above the table's recent loads."""
    previous = recent_quarantine_rate(history)
    if previous is None or extracted < MIN_ROWS_FOR_RATES:
        return
    rate = quarantined / extracted
    if rate - previous <= ref.table.max_quarantine_jump:
        return
    top = sorted(rule_counts.items(), key=lambda item: -item[1])[:3]
    rules = ", ".join(f"{rule} {count:,}" for rule, count in top)
    raise PromotionRefused(
        ref.source.name,
        f"table '{ref.table.name}': {rate:.0%} of {extracted:,} rows broke an error rule against "
        f"{previous:.0%} in its recent loads (allowed: +{ref.table.max_quarantine_jump:.0%}; top rules: {rules}); "
        "not promoted to silver",
        "Check what changed at the source (a date format, an encoding, a column meaning); if the "
        f"change is expected, raise max_quarantine_jump for {ref.key} in the catalogue.",
    )


def check_deleted_share(ref: TableRef, live_rows: int, vanished: int) -> None:
    """Refuse a reconcile that would tombstone more than the table's allowed share of live rows."""
    if live_rows < MIN_ROWS_FOR_RATES or vanished <= ref.table.max_deleted_share * live_rows:
        return
    raise PromotionRefused(
        ref.source.name,
        f"table '{ref.table.name}': {vanished:,} of {live_rows:,} live keys are no longer in the source "
        f"(allowed: {ref.table.max_deleted_share:.0%}); nothing was tombstoned",
        "Check that the source table is whole (not emptied or cut by a failed export); if the "
        f"deletions are real, raise max_deleted_share for {ref.key} in the catalogue for one run.",
    )
