"""What `ndc tables`, `ndc sql` and `ndc audit` read: the warehouse's tables, one audited query,
the audit trail.

Start-up is the cost of these commands, so each function imports only what it uses: no Dagster,
no Great Expectations, and the source catalogue only when a query read a raw zone (its entities
classify those columns; gold's classes are pipeline.personal_data's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

RAW_ZONES = ("bronze", "silver", "quarantine")  # classified by the catalogue's entities


def list_tables() -> Any:
    """Every readable table (warehouse.catalog.Listing: `.infos` and the zones skipped)."""
    from warehouse.catalog import table_infos

    return table_infos()


def run_audited_sql(query: str, *, fmt: str, role: str) -> Any:
    """Run one read-only query; every query, refused ones too, is recorded in the audit trail
    before any result is returned (warehouse.sql.SqlResult)."""
    from warehouse import audit
    from warehouse.sql import SqlError, SqlFailed, SqlRefused, parse_role, run_sql
    from warehouse.storage import StorageSettings

    settings = StorageSettings.from_env()
    output = "table" if fmt == "table" else f"export:{fmt}"

    def record(outcome: audit.Outcome, **facts) -> None:
        try:
            audit.append(
                settings, audit.AuditRecord(query=query, role=role, output=output, outcome=outcome, **facts)
            )
        except audit.AuditError as error:
            raise click.ClickException(str(error)) from None

    def touched(tables: Sequence[object], columns_read: frozenset[str]) -> dict[str, tuple[str, ...]]:
        names = [str(t) for t in tables]
        personal = audit.personal_columns_touched(names, columns_read, personal_data_classes(names))
        return {"tables": tuple(names), "personal_columns": tuple(personal)}

    try:
        result = run_sql(query, settings, parse_role(role))
    except SqlRefused as error:
        record("refused", reason=str(error))
        raise click.ClickException(f"refused: {error}") from None
    except SqlFailed as error:
        # It ran over the tables: the trail says which, and keeps no value the message may quote.
        record("error", reason=f"{error.kind} while running (its text is not kept: it may quote values read)",
               **touched(error.tables, error.columns_read))
        raise click.ClickException(str(error)) from None
    except SqlError as error:
        record("error", reason=str(error).splitlines()[0])
        raise click.ClickException(str(error)) from None
    record("ok", rows=result.frame.height, **touched(result.tables, result.columns_read))
    return result


def personal_data_classes(tables: Sequence[str]) -> dict[str, dict[str, str]]:
    """The personal-data classes of the columns of `tables` (layer.domain.table) and of gold's.

    The catalogue classifies the raw zones' columns: it is loaded only when one of `tables` is in
    a raw zone (the classes of every other table are the same without it).
    """
    from pipeline.personal_data import GOLD_PERSONAL_DATA

    if any(table.split(".", 1)[0] in RAW_ZONES for table in tables):
        from catalogue import load_catalogue
        from warehouse.audit import personal_data_classes as classify

        return classify(load_catalogue(), GOLD_PERSONAL_DATA)
    return {table: dict(columns) for table, columns in GOLD_PERSONAL_DATA.items()}


def read_trail(since: str | None) -> Any:
    """The audit trail (a Polars frame), from `since` on (7d, 12h, 30m or a date/time)."""
    from warehouse import audit
    from warehouse.storage import StorageSettings

    try:
        start = audit.parse_since(since) if since else None
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    try:
        return audit.read_audit(StorageSettings.from_env(), since=start)
    except Exception as error:  # storage refusals come in many types: one line each
        raise click.ClickException(f"the audit trail cannot be read: {str(error).splitlines()[0]}") from None
