"""SQL for analysts: DuckDB over the Delta tables, each reachable as layer.domain.table."""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb
import polars as pl

from warehouse.catalog import table_names
from warehouse.storage import LAYERS, StorageSettings
from warehouse.tables import TableName, Warehouse

_PART = r'"?([A-Za-z_][A-Za-z0-9_]*)"?'
# layer.domain.table as an analyst writes it: bare or "quoted" parts, any case, spaces around dots.
_TABLE_NAME = re.compile(rf'(?<![\w."])"?({"|".join(LAYERS)})"?\s*\.\s*{_PART}\s*\.\s*{_PART}', re.IGNORECASE)


class SqlError(ValueError):
    """The query failed; the message is DuckDB's, with the tables that exist."""


def connect(settings: StorageSettings | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB session where every warehouse table is a view named layer.domain.table."""
    settings = settings or StorageSettings.from_env()
    return _connect(settings, table_names(settings))


def _connect(settings: StorageSettings, names: Sequence[TableName]) -> duckdb.DuckDBPyConnection:
    warehouse = Warehouse(settings)
    con = duckdb.connect()
    try:
        settings.duckdb_setup(con)
        for name in names:
            # Each layer is an attached in-memory catalog and each domain a schema, so that the
            # analyst's three-part name resolves exactly as written.
            con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS \"{name.layer}\"")
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{name.layer}"."{name.domain}"')
            uri = _duckdb_uri(warehouse.uri(name)).replace("'", "''")
            con.execute(
                f'CREATE OR REPLACE VIEW "{name.layer}"."{name.domain}"."{name.table}" AS SELECT * FROM delta_scan(\'{uri}\')'
            )
    except BaseException:
        con.close()
        raise
    return con


def _duckdb_uri(uri: str) -> str:
    """DuckDB's delta extension applies the S3 secret to s3:// only: s3a:// is the same object."""
    return "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri


def tables_named_in(query: str, names: Sequence[TableName]) -> list[TableName]:
    """The tables of `names` that `query` mentions as layer.domain.table (quoted or not)."""
    mentioned = {tuple(part.lower() for part in match) for match in _TABLE_NAME.findall(query)}
    return [name for name in names if (name.layer, name.domain.lower(), name.table.lower()) in mentioned]


def run_sql(query: str, settings: StorageSettings | None = None) -> pl.DataFrame:
    """Run `query` with a view for each table it names (every table when it names none).

    Creating a view binds it, which reads the table's Delta log: on S3 a few round trips per
    table, so views for all tables would cost the query seconds it does not need.
    """
    settings = settings or StorageSettings.from_env()
    names = table_names(settings)
    named = tables_named_in(query, names)
    attempts = [named, names] if named and len(named) < len(names) else [names]
    for views in attempts:
        con = None
        try:
            con = _connect(settings, views)
            return con.sql(query).pl()
        except duckdb.CatalogException as error:
            failure: duckdb.Error = error  # maybe a table reached another way: retry with every view
        except duckdb.Error as error:
            failure = error
            break
        finally:
            if con is not None:
                con.close()
    known = ", ".join(str(n) for n in names) or "none yet: run `ndc demo`"
    raise SqlError(f"{failure}\n(tables: {known})") from None
