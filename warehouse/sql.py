"""SQL for analysts: read-only DuckDB over the Delta tables, each reachable as layer.domain.table.

Three walls, each enough on its own for the attacks it names:

1. The statement: exactly one SELECT (DuckDB's own parser says which), naming tables only as
   layer.domain.table in the zones the role may read, and no table function that reads files.
   `COPY … TO`, `ATTACH`, `INSTALL`/`LOAD`, `EXPORT`, `SET`, DDL and DML never reach the engine.
2. The engine: external access off, with only the role's zone roots in `allowed_directories`
   (so `read_csv('/etc/passwd')` and a silver file read as an analyst fail inside DuckDB), and
   the configuration locked once the views exist, so no `SET` gives any of it back.
3. The storage credentials: an analyst's S3 key that can read only the gold bucket.

Roles: `analyst` (the default) sees gold; `restricted` also sees the raw zones (bronze, silver,
quarantine, ops), for the data engineers who need them. Every query is audited either way.

Just over 300 lines because the three walls are kept in one file, to be read and reviewed together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import duckdb
import polars as pl

from warehouse.catalog import Discovery, discover
from warehouse.committed import LOADS, is_run_scoped
from warehouse.storage import LAYERS, Layer, StorageSettings, is_s3_uri, split_s3_uri
from warehouse.tables import RUN_ID, TableName, Warehouse

Role = Literal["analyst", "restricted"]
ROLES: tuple[Role, ...] = get_args(Role)
ROLE_LAYERS: Mapping[Role, tuple[Layer, ...]] = {"analyst": ("gold",), "restricted": LAYERS}
ROLE_ENV = "NDC_SQL_ROLE"

# Table functions that make rows without touching a file or another database.
_PURE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SqlError(ValueError):
    """The query failed; the message is DuckDB's, with the tables that exist."""


class SqlRefused(SqlError):
    """The query is not a read of the role's tables: it never reached the engine."""


class SqlFailed(SqlError):
    """The query was bound to the role's tables and failed while it ran. Its message may quote
    values it read (`error(string_agg(...))`, a failed cast), so it is audited like a result:
    with the tables and columns it touched, and the error's kind in place of its text."""

    def __init__(self, message: str, *, kind: str, tables: list[TableName], columns_read: frozenset[str]) -> None:
        super().__init__(message)
        self.kind, self.tables, self.columns_read = kind, tables, columns_read


@dataclass(frozen=True)
class SqlResult:
    frame: pl.DataFrame
    tables: list[TableName]  # the warehouse tables the query names
    columns_read: frozenset[str] = field(default_factory=frozenset)  # column names in the plan
    discovery: Discovery | None = None


def parse_role(value: str | None) -> Role:
    role = (value or "analyst").strip().lower()
    if role not in ROLES:
        raise SqlRefused(f"{ROLE_ENV}/--role {value!r} is not a role; use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


# -- the statement ----------------------------------------------------------------------------


def _syntax_tree(query: str) -> dict:
    """DuckDB's parse of one SELECT, as JSON: parsing only, nothing is bound or read."""
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        # A literal, not a bound parameter: binding a Python value makes DuckDB import pandas
        # (seconds of `ndc sql`'s start-up) to check whether it is a DataFrame.
        literal = "'" + query.replace("'", "''") + "'"
        tree = json.loads(con.execute(f"SELECT json_serialize_sql({literal})").fetchone()[0])
    finally:
        con.close()
    if tree.get("error"):
        raise SqlError(tree.get("error_message") or "the query does not parse")
    return tree


def _walk(node: object):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@dataclass(frozen=True)
class References:
    tables: list[TableName]  # layer.domain.table references to the warehouse, in the role's zones


def check_read_only(query: str, role: Role = "analyst") -> References:
    """Refuse (SqlRefused, one line) anything but one SELECT over the role's tables."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as error:
        raise SqlError(str(error)) from None
    if len(statements) != 1:
        raise SqlRefused(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SqlRefused(
            f"only SELECT is allowed here, not {kind.name} (the warehouse is read-only: "
            "no COPY, ATTACH, INSTALL/LOAD, EXPORT, SET or writes)"
        )
    tables: list[TableName] = []
    refused_layers: list[str] = []
    for node in _walk(_syntax_tree(query)):
        if node.get("type") == "TABLE_FUNCTION":
            name = str((node.get("function") or {}).get("function_name", "")).lower()
            if name not in _PURE_TABLE_FUNCTIONS:
                raise SqlRefused(
                    f"{name}() reads outside the warehouse tables: name tables as layer.domain.table"
                )
        elif node.get("type") == "BASE_TABLE":
            catalog, schema, table = (
                str(node.get(k) or "") for k in ("catalog_name", "schema_name", "table_name")
            )
            if not catalog and not schema:
                if not _IDENTIFIER.match(table):  # FROM '/some/file.csv' is a file read
                    raise SqlRefused(f"{table!r} is not a table: name tables as layer.domain.table")
                continue  # a WITH name
            if catalog.lower() not in LAYERS:
                raise SqlRefused(
                    f"{'.'.join(p for p in (catalog, schema, table) if p)}: name tables as layer.domain.table"
                )
            layer = catalog.lower()
            if layer not in ROLE_LAYERS[role]:
                refused_layers.append(f"{layer}.{schema}.{table}")
                continue
            tables.append(TableName(layer, schema.lower(), table.lower()))  # type: ignore[arg-type]
    if refused_layers:
        raise SqlRefused(
            f"{refused_layers[0]} is in a restricted zone; role {role!r} reads "
            f"{', '.join(ROLE_LAYERS[role])} only (raw zones need --role restricted)"
        )
    return References(list(dict.fromkeys(tables)))


def tables_named_in(query: str, names: Sequence[TableName]) -> list[TableName]:
    """The tables of `names` that `query` mentions as layer.domain.table (quoted or not, any case)."""
    try:
        wanted = {(t.layer, t.domain, t.table) for t in check_read_only(query, "restricted").tables}
    except SqlError:
        return []
    return [n for n in names if (n.layer, n.domain.lower(), n.table.lower()) in wanted]


# -- the engine --------------------------------------------------------------------------------


def _allowed_roots(settings: StorageSettings, role: Role) -> list[str]:
    """The folders (or s3:// prefixes) DuckDB may open: the role's zone roots, nothing else."""
    roots = []
    for layer in ROLE_LAYERS[role]:
        root = _duckdb_uri(settings.layer_root(layer))
        if is_s3_uri(root):
            bucket, prefix = split_s3_uri(root)
            root = f"s3://{bucket}/{prefix}".rstrip("/")
        roots.append(root.rstrip("/") + "/")
    return sorted(set(roots))


def _connect(settings: StorageSettings, names: Sequence[TableName], role: Role) -> duckdb.DuckDBPyConnection:
    """A locked DuckDB session whose views are the role's tables, named layer.domain.table."""
    warehouse = Warehouse(settings)
    # No Python replacement scans: `FROM some_variable` must not read this process's objects.
    con = duckdb.connect(config={"python_enable_replacements": False, "autoinstall_known_extensions": False})
    try:
        settings.duckdb_setup(con)  # extensions and the S3 secret, before the doors close
        roots = ", ".join(_literal(r) for r in _allowed_roots(settings, role))
        con.execute(f"SET allowed_directories = [{roots}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET autoload_known_extensions = false")
        # Asked once per session, and only when a run-scoped table is read: the load records live
        # in the restricted zone, which an analyst's gold-only key may not even list.
        loads = None
        if any(is_run_scoped(name) for name in names) and warehouse.exists(LOADS):
            loads = _literal(_duckdb_uri(warehouse.uri(LOADS)))
        for name in names:
            # Each layer is an attached in-memory catalog and each domain a schema, so that the
            # analyst's three-part name resolves exactly as written.
            con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS \"{name.layer}\"")
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{name.layer}"."{name.domain}"')
            uri = _literal(_duckdb_uri(warehouse.uri(name)))
            con.execute(
                f'CREATE OR REPLACE VIEW "{name.layer}"."{name.domain}"."{name.table}" AS SELECT * FROM delta_scan({uri})'
                + _committed_only(warehouse, name, loads)
            )
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _committed_only(warehouse: Warehouse, name: TableName, loads: str | None) -> str:
    """For bronze and quarantine, a filter to the rows of loads that committed (warehouse/committed.py):
    the rows a killed load left behind are not data. `loads`: the load records' URI literal, or None."""
    if not is_run_scoped(name) or RUN_ID not in warehouse.table(name).schema().to_arrow().names:
        return ""
    if loads is None:  # no load has committed yet
        return " WHERE false"
    return f' WHERE "{RUN_ID}" IN (SELECT "{RUN_ID}" FROM delta_scan({loads}))'


def connect(settings: StorageSettings | None = None, role: Role = "analyst") -> duckdb.DuckDBPyConnection:
    """A locked, read-only DuckDB session with a view for every table the role may read."""
    settings = settings or StorageSettings.from_env()
    return _connect(settings, discover(settings, ROLE_LAYERS[role]).names, role)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _duckdb_uri(uri: str) -> str:
    """DuckDB's delta extension applies the S3 secret to s3:// only: s3a:// is the same object."""
    return "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri


def _plan_words(con: duckdb.DuckDBPyConnection, query: str) -> frozenset[str]:
    """Every identifier in the physical plan's projections and filters: the columns read."""
    try:
        rows = con.execute("EXPLAIN (FORMAT json) " + query).fetchall()
    except duckdb.Error:
        return frozenset()
    words: set[str] = set()
    for _, plan in rows:
        for node in _walk(json.loads(plan)):
            for value in (node.get("extra_info") or {}).values():
                text = json.dumps(value)
                words.update(w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return frozenset(words)


def _columns_of(con: duckdb.DuckDBPyConnection, views: Sequence[TableName]) -> str:
    """`columns of layer.domain.table: a, b, …` for each table a query names (read from its schema);
    empty when it names none or none can be described."""
    parts = []
    for view in views:
        try:
            columns = con.sql(f'SELECT * FROM "{view.layer}"."{view.domain}"."{view.table}" LIMIT 0').columns
        except duckdb.Error:
            continue
        parts.append(f"{view}: {', '.join(columns)}")
    return "columns of " + "; ".join(parts) if parts else ""


def run_sql(query: str, settings: StorageSettings | None = None, role: Role = "analyst") -> SqlResult:
    """Run one read-only SELECT with a view for each table it names (the role's tables only).

    Creating a view binds it, which reads the table's Delta log: on S3 a few round trips per
    table, so only the tables the query names get one.
    """
    settings = settings or StorageSettings.from_env()
    references = check_read_only(query, role)
    found = discover(settings, ROLE_LAYERS[role])
    wanted = {(t.layer, t.domain, t.table) for t in references.tables}
    views = [n for n in found.names if (n.layer, n.domain.lower(), n.table.lower()) in wanted]
    known = ", ".join(str(n) for n in found.names) or "none yet: run `ndc demo`"
    known += f"; {found.note()}" if found.note() else ""
    missing = sorted(
        ".".join(t) for t in wanted - {(n.layer, n.domain.lower(), n.table.lower()) for n in views}
    )
    if missing:
        raise SqlError(f"no table {', '.join(missing)}\n(tables: {known})")
    try:
        con = _connect(settings, views, role)
    except duckdb.Error as error:
        raise SqlError(f"{str(error).splitlines()[0]}\n(tables: {known})") from None

    def explained(error: duckdb.Error) -> str:
        # A mistake of the query's own words (a column, a function, a cast): the named tables'
        # columns help more than every table of the zone. Not after a failed read of storage:
        # describing the tables would read it again (an S3 outage's retries, for no help).
        unread = isinstance(error, (duckdb.IOException, duckdb.HTTPException))
        columns = "" if unread else _columns_of(con, views)
        return f"{str(error).splitlines()[0]}\n({columns or f'tables: {known}'})"

    try:
        try:
            relation = con.sql(query)  # bound, not run: an error here reads no row
        except duckdb.Error as error:
            raise SqlError(explained(error)) from None
        try:
            frame = relation.pl()
        except duckdb.Error as error:
            raise SqlFailed(
                explained(error),
                kind=type(error).__name__, tables=views, columns_read=_plan_words(con, query),
            ) from None
        return SqlResult(frame, views, _plan_words(con, query), found)
    finally:
        con.close()


# -- export ------------------------------------------------------------------------------------

LIST_SEPARATOR = "|"
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as flat, inert text cells: lists joined with '|', structs as JSON, and text
    starting like a formula prefixed with a single quote (shown, never evaluated)."""
    flat = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List) and not dtype.inner.is_nested():
            column = column.list.eval(pl.element().cast(pl.String)).list.join(LIST_SEPARATOR)
        elif isinstance(dtype, pl.Array) and not dtype.inner.is_nested():
            column = column.arr.eval(pl.element().cast(pl.String)).arr.join(LIST_SEPARATOR)
        elif dtype.is_nested():
            column = pl.struct(column).struct.json_encode().str.json_path_match(f"$.{name}")
        flat.append(column.alias(name))
    flat_frame = frame.select(flat)
    risky = "^[" + "".join(re.escape(c) for c in FORMULA_STARTS) + "]"
    return flat_frame.with_columns(
        pl.when(pl.col(name).str.contains(risky)).then("'" + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in flat_frame.schema.items()
        if dtype == pl.String
    )


def to_csv(frame: pl.DataFrame) -> str:
    return csv_safe(frame).write_csv()
