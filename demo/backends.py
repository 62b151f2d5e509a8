"""The demo ministries on real servers: copy the demo's SQLite files into PostgreSQL or MariaDB.

Each SQL source (population, social_insurance, business, welfare) becomes a database of the same
name holding the same tables: TEXT columns stay TEXT (ministries export text; parsing is the
pipeline's job), INTEGER keys become BIGINT, and `ngay_cap_nhat` (the watermark) gets an index.
The rows travel as Arrow batches (the SQLite connector) encoded once, with Polars expressions, as
tab-separated text in the escape convention both servers share (`\\N` NULL, `\\t`, `\\n`, `\\r`,
`\\\\`), then bulk-loaded: COPY FROM STDIN on PostgreSQL, LOAD DATA LOCAL INFILE on MariaDB.

The catalogue reaches them through one URL variable per source (NDC_<SOURCE>_URL), which
`load_demo_into` and `prepare_backend` return. The URLs carry the reader's password: put them in
the environment, never print them (connectors show them through `redact_url`).

    prepare_backend("postgres", Path(".ndc/demo"), Path(".ndc/servers/postgres")) -> {"NDC_POPULATION_URL": ...}

By hand, with timings: `uv run python -m demo.backends postgres|mariadb [--demo-dir D] [--state-dir S]`.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import polars as pl
import pyarrow as pa

from connectors import ExtractRequest, open_connector
from demo.generator import SQLITE_FILES
from devservers.databases import LocalServer, ServerKind, default_state_dir, start

Backend = Literal["postgres", "mariadb"]
WATERMARK = "ngay_cap_nhat"
BATCH_ROWS = 50_000
SOURCES: tuple[str, ...] = SQLITE_FILES  # the demo sources that are SQL databases


@dataclass(frozen=True)
class SourceTable:
    """One table of a demo SQLite file: its name and (column, server type) pairs in order."""

    name: str
    columns: tuple[tuple[str, str], ...]  # type is "BIGINT", "DOUBLE" or "TEXT"

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def url_variable(source: str) -> str:
    """The environment variable the catalogue reads a source's URL from (catalogue/sources/*.yml)."""
    return f"NDC_{source.upper()}_URL"


def prepare_backend(backend: str, demo_dir: Path, state_dir: Path | None = None) -> dict[str, str]:
    """Start (or reuse) the local server of `backend` in `state_dir` (default `.ndc/servers/<backend>`),
    load the demo in `demo_dir` into it, and return the catalogue's URL variables."""
    kind = _backend(backend)
    server = start(kind, state_dir or default_state_dir(kind))
    return load_demo_into(kind, demo_dir, server)


def load_demo_into(backend: Backend, demo_dir: Path, server: LocalServer,
                   progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Copy every demo SQLite table into a database per source on `server` (databases are replaced,
    so a re-run reloads), grant the reader SELECT, and return {NDC_<SOURCE>_URL: url}."""
    kind = _backend(backend)
    if server.kind != kind:
        raise ValueError(f"backend '{kind}' asked for, but the server given is {server.kind}")
    env: dict[str, str] = {}
    for source in SOURCES:
        sqlite_path = demo_dir / f"{source}.sqlite"
        if not sqlite_path.is_file():
            raise FileNotFoundError(f"{sqlite_path} is missing: generate the demo first (ndc demo)")
        tables = sqlite_tables(sqlite_path)
        _recreate_database(server, source)
        for table in tables:
            started = time.perf_counter()
            rows = _load_table(server, source, sqlite_path, table)
            if progress is not None:
                progress(f"{source}.{table.name}: {rows:,} rows in {time.perf_counter() - started:.2f}s")
        _grant_read(server, source)
        env[url_variable(source)] = server.url(source)
    return env


# ---- pure parts --------------------------------------------------------------------------------

def server_type(declared: str) -> str:
    """The server column type for a SQLite declared type, by SQLite's own affinity rules."""
    upper = declared.upper()
    if "INT" in upper:
        return "BIGINT"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "DOUBLE"
    return "TEXT"


def sqlite_tables(path: Path) -> list[SourceTable]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        names = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return [
            SourceTable(name, tuple((column, server_type(declared)) for _, column, declared, *_ in
                                    connection.execute(f"PRAGMA table_info({_quote(name, 'postgres')})")))
            for name in names
        ]


def copy_text(batch: pa.RecordBatch | pa.Table) -> bytes:
    """Rows as tab-separated lines in the text format both PostgreSQL COPY and MariaDB LOAD DATA
    read: NULL as `\\N`; backslash, tab, newline and carriage return escaped with a backslash."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    escaped = frame.select(
        pl.col(name).cast(pl.String)
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
        for name in frame.columns
    )
    return escaped.write_csv(
        None, include_header=False, separator="\t", quote_style="never", null_value="\\N", line_terminator="\n"
    ).encode("utf-8")


def _quote(name: str, kind: ServerKind) -> str:
    if kind == "mariadb":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _create_table_sql(table: SourceTable, kind: ServerKind) -> str:
    double = "DOUBLE PRECISION" if kind == "postgres" else "DOUBLE"
    columns = ", ".join(
        f"{_quote(name, kind)} {double if kind_ == 'DOUBLE' else kind_}" for name, kind_ in table.columns
    )
    return f"CREATE TABLE {_quote(table.name, kind)} ({columns})"


def _index_sql(table: SourceTable, kind: ServerKind) -> str | None:
    if WATERMARK not in table.column_names:
        return None
    # MariaDB indexes TEXT by a prefix; the watermark is `YYYY-MM-DD HH:MM:SS`, 19 characters.
    column = _quote(WATERMARK, kind) + ("(32)" if kind == "mariadb" else "")
    return f"CREATE INDEX {_quote(f'{table.name}_{WATERMARK}', kind)} ON {_quote(table.name, kind)} ({column})"


# ---- talking to the servers --------------------------------------------------------------------

def _batches(sqlite_path: Path, table: SourceTable) -> Iterator[pa.RecordBatch]:
    connector = open_connector(sqlite_path.stem, "sql", {"path": str(sqlite_path)})
    request = ExtractRequest(source=sqlite_path.stem, table=table.name, columns=tuple(table.column_names),
                             batch_rows=BATCH_ROWS)
    yield from connector.extract(request)


def _recreate_database(server: LocalServer, database: str) -> None:
    if server.kind == "postgres":
        with server.admin_connect() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {_quote(database, 'postgres')} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {_quote(database, 'postgres')}")
        return
    with server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {_quote(database, 'mariadb')}")
        # Binary collation: the watermark compares byte by byte, as in SQLite and PostgreSQL's C locale.
        cursor.execute(f"CREATE DATABASE {_quote(database, 'mariadb')} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")


def _load_table(server: LocalServer, database: str, sqlite_path: Path, table: SourceTable) -> int:
    """Create the table, bulk-load the rows, index the watermark; returns the rows loaded (checked)."""
    kind = server.kind
    names = ", ".join(_quote(name, kind) for name in table.column_names)
    loaded = 0
    if kind == "postgres":
        with server.admin_connect(database) as admin:
            with admin.transaction():  # one commit: the table appears whole or not at all
                admin.execute(_create_table_sql(table, kind))
                with admin.cursor().copy(f"COPY {_quote(table.name, kind)} ({names}) FROM STDIN") as copy:
                    for batch in _batches(sqlite_path, table):
                        copy.write(copy_text(batch))
                        loaded += batch.num_rows
            if (index := _index_sql(table, kind)) is not None:
                admin.execute(index)
            counted = admin.execute(f"SELECT count(*) FROM {_quote(table.name, kind)}").fetchone()[0]
            admin.execute(f"ANALYZE {_quote(table.name, kind)}")
    else:
        with (tempfile.NamedTemporaryFile(prefix=f"ndc-{table.name}-", suffix=".tsv") as spool,
              server.admin_connect(database) as admin, admin.cursor() as cursor):
            for batch in _batches(sqlite_path, table):
                spool.write(copy_text(batch))
                loaded += batch.num_rows
            spool.flush()
            cursor.execute(_create_table_sql(table, kind))
            # The file is read by this client (pymysql) and streamed to the server: LOCAL.
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {_quote(table.name, kind)} CHARACTER SET utf8mb4 "
                f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({names})",
                (spool.name,),
            )
            if (index := _index_sql(table, kind)) is not None:
                cursor.execute(index)
            cursor.execute(f"SELECT count(*) FROM {_quote(table.name, kind)}")
            counted = cursor.fetchone()[0]
    if counted != loaded:
        raise RuntimeError(f"{database}.{table.name}: {loaded:,} rows sent but the server holds {counted:,}")
    return loaded


def _grant_read(server: LocalServer, database: str) -> None:
    """The reader may SELECT the source's tables, nothing else."""
    if server.kind == "postgres":
        with server.admin_connect(database) as admin:
            admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {_quote(server.user, 'postgres')}")
        return
    with server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"GRANT SELECT ON {_quote(database, 'mariadb')}.* TO %s@'%%'", (server.user,))


def _backend(backend: str) -> Backend:
    if backend not in get_args(Backend):
        raise ValueError(f"backend '{backend}' is not one of {', '.join(get_args(Backend))}")
    return backend  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.backends",
                                     description="Load the demo SQLite sources into a local server.")
    parser.add_argument("backend", choices=get_args(Backend))
    parser.add_argument("--demo-dir", type=Path, default=Path(".ndc/demo"))
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    server = start(args.backend, args.state_dir or default_state_dir(args.backend))
    print(f"server up in {time.perf_counter() - started:.2f}s", flush=True)
    started = time.perf_counter()
    env = load_demo_into(args.backend, args.demo_dir, server, progress=lambda m: print(m, flush=True))
    print(f"loaded in {time.perf_counter() - started:.2f}s; set {', '.join(env)} (values hold the password)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
