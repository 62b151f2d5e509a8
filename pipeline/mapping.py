"""From a ministry's columns to the canonical entity: one Polars expression per canonical column."""

from __future__ import annotations

import polars as pl

from catalogue import Entity, Table

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "list[string]": pl.List(pl.String()),
}


def entity_schema(entity: Entity) -> dict[str, pl.DataType]:
    return {column.name: POLARS_TYPES[column.type] for column in entity.columns}


def canonical_expressions(table: Table, entity: Entity) -> dict[str, pl.Expr]:
    """Every entity column by name, in the entity's order: mapped ones normalised, the rest null."""
    from normalise import normaliser

    schema = entity_schema(entity)
    mapped = {
        mapping.to: normaliser(mapping.parse)(pl.col(mapping.source), **mapping.options)
        for mapping in table.columns
    }
    return {
        name: (mapped[name] if name in mapped else pl.lit(None)).cast(dtype, strict=False).alias(name)
        for name, dtype in schema.items()
    }


def canonical_columns(table: Table, entity: Entity) -> list[pl.Expr]:
    return list(canonical_expressions(table, entity).values())



def watermark_column(table: Table) -> str | None:
    """The canonical column made from the source's watermark column, if the mapping keeps it
    (the data standard's "live" criterion measures lag on it; versions are ordered by
    pipeline.versions.version_order, which may be another column)."""
    if table.watermark is None:
        return None
    return next((m.to for m in table.columns if m.source == table.watermark), None)
