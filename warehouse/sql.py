"""SQL for analysts: DuckDB over the Delta tables, each reachable as layer.domain.table."""

from __future__ import annotations

import duckdb
import polars as pl

from warehouse.catalog import table_names
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse


class SqlError(ValueError):
    """The query failed; the message is DuckDB's, with the tables that exist."""


def connect(settings: StorageSettings | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB session where every warehouse table is a view named layer.domain.table."""
    settings = settings or StorageSettings.from_env()
    warehouse = Warehouse(settings)
    con = duckdb.connect()
    settings.duckdb_setup(con)
    for name in table_names(settings):
        # Each layer is an attached in-memory catalog and each domain a schema, so that the
        # analyst's three-part name resolves exactly as written.
        con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS \"{name.layer}\"")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{name.layer}"."{name.domain}"')
        uri = warehouse.uri(name).replace("'", "''")
        con.execute(
            f'CREATE OR REPLACE VIEW "{name.layer}"."{name.domain}"."{name.table}" AS SELECT * FROM delta_scan(\'{uri}\')'
        )
    return con


def run_sql(query: str, settings: StorageSettings | None = None) -> pl.DataFrame:
    settings = settings or StorageSettings.from_env()
    con = connect(settings)
    try:
        return con.sql(query).pl()
    except duckdb.Error as error:
        known = ", ".join(str(n) for n in table_names(settings)) or "none yet: run `ndc demo`"
        raise SqlError(f"{error}\n(tables: {known})") from None
    finally:
        con.close()
