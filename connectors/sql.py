"""SQL databases through connectorx's Arrow stream: SQLite, PostgreSQL, MySQL/MariaDB, SQL Server, Oracle.

connectorx's `arrow_stream` hands batches over as the server sends rows, so memory stays at a few
batches whatever the table size (bench/bench_connectors.py measures it). Queries are built here in
the source's own dialect; errors from the server are sorted into the SourceError kinds by their
message, and never repeat the password.

Over 300 lines because each dialect's quoting, paging and error wording sits beside the
others, so that adding a database means reading one file.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

import connectorx as cx
import pyarrow as pa

from connectors.base import ExtractRequest, bounded
from connectors.errors import (
    SourceAuthError,
    SourceError,
    SourceSchemaError,
    SourceTimeout,
    SourceUnreachable,
    redact,
    redact_url,
    url_password,
    url_secrets,
)
from connectors.isolated import ReadingProcess, SqlRead, Stalled, read_batches

Dialect = Literal["sqlite", "postgres", "mysql", "mariadb", "mssql", "oracle"]

# URL scheme -> dialect (connectorx's schemes). `mariadb` is a kind, reached by a mysql:// URL.
_SCHEMES: dict[str, Dialect] = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mssql": "mssql",
    "oracle": "oracle",
}
# URL scheme of a `sql` connection -> (dialect, the scheme connectorx is given). MariaDB speaks the
# MySQL protocol but cancels slow queries with its own setting, so its URLs are told apart here.
_SQL_URL_SCHEMES: dict[str, tuple[Dialect, str]] = {
    "postgresql": ("postgres", "postgresql"),
    "postgres": ("postgres", "postgres"),
    "mysql": ("mysql", "mysql"),
    "mariadb": ("mariadb", "mysql"),
    "sqlite": ("sqlite", "sqlite"),
    "mssql": ("mssql", "mssql"),
    "oracle": ("oracle", "oracle"),
}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
CONNECT_TIMEOUT_S = 5.0
# A frozen server or a silently dropped connection sends nothing and fires no statement timeout:
# after this long without a batch the read fails (retryable) and frees its pool slot.
STALL_TIMEOUT_S = 600.0


def dialect_of(url: str, kind: str | None = None) -> Dialect:
    """The SQL dialect of a connection URL; `kind` (from the catalogue) must agree with its scheme."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    dialect = _SCHEMES.get(scheme)
    if dialect is None:
        raise ValueError(f"URL scheme '{scheme}' is not one of {', '.join(sorted(_SCHEMES))}")
    if kind == "mariadb" and dialect == "mysql":
        return "mariadb"
    if kind is not None and kind != dialect:
        raise ValueError(f"connector kind '{kind}' does not match the URL scheme '{scheme}'")
    return dialect


def sql_target(url: str | None, path: str | os.PathLike[str] | None = None) -> tuple[Dialect, str]:
    """The dialect and connectorx URL of a `sql` connection: the dialect follows the URL's scheme
    (`mariadb://` is handed to connectorx as `mysql://`); an empty or absent URL means the SQLite
    file at `path`, made absolute. Raises ValueError, never repeating a password."""
    url = (url or "").strip()
    if not url:
        if path is None or not str(path).strip():
            raise ValueError("the connection has neither a `url` nor a SQLite `path`")
        return "sqlite", f"sqlite://{Path(path).resolve()}"
    scheme, separator, rest = url.partition("://")
    target = _SQL_URL_SCHEMES.get(scheme.split("+", 1)[0].lower()) if separator else None
    if target is None:
        raise ValueError(
            f"URL {redact(url, url_secrets(url)) if separator else '(without a scheme)'} does not start with one of "
            f"{', '.join(f'{name}://' for name in _SQL_URL_SCHEMES)}"
        )
    dialect, connectorx_scheme = target
    return dialect, (f"{connectorx_scheme}://{rest}" if dialect == "mariadb" else url)


def quote_identifier(name: str, dialect: Dialect) -> str:
    """One identifier quoted for the dialect, the quote character doubled inside it."""
    if dialect in ("mysql", "mariadb"):
        return "`" + name.replace("`", "``") + "`"
    if dialect == "mssql":
        return "[" + name.replace("]", "]]") + "]"
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str, dialect: Dialect) -> str:
    """A table name, optionally schema-qualified (`schema.table`), each part quoted."""
    return ".".join(quote_identifier(part, dialect) for part in name.split("."))


def quote_literal(value: str, dialect: Dialect) -> str:
    """A string literal. MySQL/MariaDB also treat backslash as an escape inside quotes by default."""
    escaped = value.replace("'", "''")
    if dialect in ("mysql", "mariadb"):
        escaped = escaped.replace("\\", "\\\\")
    return "'" + escaped + "'"


def build_query(request: ExtractRequest, dialect: Dialect = "sqlite") -> str:
    """The SELECT that extracts one table or query: chosen columns, within [since, until)."""
    if (request.table is None) == (request.query is None):
        raise ValueError("an extract request names exactly one of `table` or `query`")
    select = (
        ", ".join(quote_identifier(column, dialect) for column in request.columns) if request.columns else "*"
    )
    # No `AS` before a subquery's alias: Oracle rejects it, every other dialect accepts both.
    source = quote_table(request.table, dialect) if request.table is not None else f"({request.query}) src"
    conditions = []
    if request.watermark_column is not None:
        watermark = quote_identifier(request.watermark_column, dialect)
        if request.since is not None:
            conditions.append(f"{watermark} >= {quote_literal(request.since, dialect)}")
        if request.until is not None:
            conditions.append(f"{watermark} < {quote_literal(request.until, dialect)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {select} FROM {source}{where}"


def timeout_statements(dialect: Dialect, timeout_s: float | None) -> list[str]:
    """Session settings that make the server cancel a query running longer than `timeout_s`.

    connectorx runs these before the query, on PostgreSQL and MySQL/MariaDB only: SQL Server and
    Oracle have no per-session equivalent it can send, so there the limit is the network's.
    """
    if timeout_s is None or timeout_s <= 0:
        return []
    milliseconds = max(1, round(timeout_s * 1000))
    if dialect == "postgres":
        return [f"SET statement_timeout = {milliseconds}"]
    if dialect == "mysql":
        return [f"SET SESSION max_execution_time = {milliseconds}"]
    if dialect == "mariadb":
        return [f"SET SESSION max_statement_time = {milliseconds / 1000:.3f}"]
    return []


@dataclass(frozen=True)
class SqlConnector:
    """One database. `timeout_s` is the default (server-side) query limit, `stall_timeout_s` the most
    seconds to wait for the next rows (client-side: see connectors/isolated.py), `partitions` the
    default parallelism."""

    source: str
    url: str = field(repr=False)  # may carry a password: never printed (see `redacted_url`)
    kind: str | None = None
    timeout_s: float | None = None
    partitions: int = 1
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    stall_timeout_s: float | None = STALL_TIMEOUT_S

    @property
    def redacted_url(self) -> str:
        return redact(self.url, url_secrets(self.url))

    @property
    def dialect(self) -> Dialect:
        try:
            return dialect_of(self.url, self.kind)
        except ValueError as error:
            raise SourceError(
                self.source,
                f"{error} (URL {redact_url(self.url)})",
                "Fix the connection URL or kind in the source catalogue (see docs/connectors.md).",
            ) from None

    def independent_reader(self) -> IndependentRead:
        """A reader for one read apart from this connector's others. Each read is a child process
        with its own connection, so two share nothing (a load reads its source keys while it
        judges its rows: pipeline/deletes.py). This one's child starts now, so that its start-up
        passes beside the caller's other work (a load's set-up: pipeline/load.py); it connects
        only when it reads."""
        return IndependentRead(self, ReadingProcess())

    def extract(self, request: ExtractRequest, process: ReadingProcess | None = None) -> Iterator[pa.RecordBatch]:
        """The rows, read by `process` if one was started ahead (independent_reader), else by a new one."""
        dialect = self.dialect
        try:
            query = build_query(request, dialect)
        except ValueError as error:
            raise SourceError(
                self.source, str(error), "Fix the table entry in the source catalogue."
            ) from None
        self._probe()
        timeout_s = request.timeout_s if request.timeout_s is not None else self.timeout_s
        partitions = request.partitions if request.partitions > 1 else self.partitions
        partitioned = request.partition_on is not None and partitions > 1

        read = SqlRead(
            url=self.url,
            query=query,
            batch_rows=request.batch_rows,
            pre_execution_query=timeout_statements(dialect, timeout_s) or None,
            partition_on=request.partition_on if partitioned else None,
            partition_num=partitions if partitioned else None,
        )
        try:
            # Errors met mid-stream (a timeout, a dropped connection) surface while iterating.
            yield from bounded(read_batches(read, self.stall_timeout_s, process), request.batch_rows)
        except Stalled as stalled:
            raise SourceTimeout(
                self.source,
                f"{stalled} (frozen server or silently dropped connection) reading {redact_url(self.url)}",
                "Check the database server; the load will be retried. Raise `stall_timeout_s` in the "
                "connection if the server legitimately needs longer before its first rows.",
            ) from None
        except BaseException as error:
            if not is_driver_failure(error):
                raise
            raise self._classify(error) from None

    def check(self) -> None:
        self._probe()
        try:
            cx.read_sql(
                self.url, "SELECT 1" + (" FROM dual" if self.dialect == "oracle" else ""), return_type="arrow"
            )
        except (RuntimeError, OSError) as error:
            raise self._classify(error) from None

    def _probe(self) -> None:
        """Fail fast on a closed or unreachable port: connectorx's pool would retry for 30 s."""
        dialect = self.dialect
        if dialect == "sqlite":
            # A missing file is a wrong path, not an outage: no retry will make it appear
            # (and connectorx would spend 30 s retrying, then create an empty database).
            database = Path(urlsplit(self.url).path)
            if not database.is_file():
                raise SourceSchemaError(
                    self.source,
                    f"SQLite file {database} does not exist",
                    "Fix the connection path in the source catalogue (for the demo: run `ndc demo`).",
                )
            return
        parts = self._url_parts()
        try:
            port = parts.port or _DEFAULT_PORTS[dialect]
        except ValueError:
            port = _DEFAULT_PORTS[dialect]
        host = parts.hostname or "localhost"
        try:
            with socket.create_connection((host, port), timeout=self.connect_timeout_s):
                pass
        except OSError as error:
            raise SourceUnreachable(
                self.source,
                f"cannot connect to {host}:{port} ({error.strerror or error}) for {redact_url(self.url)}",
                "Check that the database server is up, the host and port are right and the "
                "firewall lets this machine in; the load will be retried.",
            ) from None
        self._login(dialect, parts)

    def _url_parts(self) -> SplitResult:
        """The URL's parts; a password holding an unencoded '/', '?' or '#' would split it in the
        wrong place (host taken from the password), so it is refused, without showing it."""
        if any(mark in url_password(self.url) for mark in "/?#"):
            raise SourceError(
                self.source,
                f"the password in the connection URL ({redact_url(self.url)}) holds '/', '?' or '#'",
                "Percent-encode it in the environment variable (/ -> %2F, ? -> %3F, # -> %23), e.g. "
                "python -c \"import urllib.parse, getpass; print(urllib.parse.quote(getpass.getpass(), safe=''))\"",
            )
        return urlsplit(self.url)

    def _login(self, dialect: str, parts: SplitResult) -> None:
        """Log in once with the server's own driver: a refused login fails now, with the server's
        reason, instead of after connectorx's 30 s of retries (which could also lock the account)."""
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        database = parts.path.lstrip("/") or None
        try:
            if dialect == "postgres":
                import psycopg

                psycopg.connect(
                    host=parts.hostname,
                    port=parts.port or 5432,
                    user=user,
                    password=password,
                    dbname=database,
                    connect_timeout=max(1, round(self.connect_timeout_s)),
                ).close()
            elif dialect in ("mysql", "mariadb"):
                import pymysql

                pymysql.connect(
                    host=parts.hostname,
                    port=parts.port or 3306,
                    user=user,
                    password=password,
                    database=database,
                    connect_timeout=self.connect_timeout_s,
                ).close()
        except ImportError:  # the drivers are optional here: connectorx will report the problem
            return
        except Exception as error:
            raise self._classify(error) from None

    def _classify(self, error: BaseException) -> SourceError:
        return classify_error(self.source, redact(str(error), url_secrets(self.url)), self.url)


@dataclass(frozen=True)
class IndependentRead:
    """One read of `connector`'s, by a reading process started ahead of it (SqlConnector.independent_reader)."""

    connector: SqlConnector
    process: ReadingProcess = field(repr=False)

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        return self.connector.extract(request, self.process)

    def close(self) -> None:
        """End the reading process, if its read never came (or cut it short)."""
        self.process.close()


def is_driver_failure(error: BaseException) -> bool:
    """connectorx reports server errors met mid-stream as a Rust panic (pyo3's PanicException,
    a BaseException); those are the source's failures, unlike KeyboardInterrupt or GeneratorExit."""
    return isinstance(error, RuntimeError | OSError | pa.ArrowException) or (
        type(error).__name__ == "PanicException"
    )


# Server messages (PostgreSQL, MySQL/MariaDB, SQLite, SQL Server, Oracle) -> what went wrong.
_AUTH = re.compile(
    r"password authentication failed|no pg_hba\.conf entry|role \".*\" does not exist|"
    r"access denied for user|permission denied|login failed for user|ora-01017|ora-01031|"
    r"authentication failed|command denied to user",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(
    r"statement timeout|max_statement_time|maximum statement execution time|"
    r"query execution was interrupted|ora-01013",
    re.IGNORECASE,
)
_SCHEMA = re.compile(
    r"does not exist|doesn't exist|no such table|no such column|unknown column|unknown database|"
    r"invalid object name|invalid column name|ora-00942|ora-00904",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"connection refused|connection reset|broken pipe|timed out|timeout|could not connect|"
    r"error connecting|can't connect|could not translate host|name or service not known|"
    r"server closed the connection|lost connection|gone away|unexpected eof|network is unreachable|"
    r"no route to host|the database system is (starting up|shutting down)|too many connections",
    re.IGNORECASE,
)


def classify_error(source: str, message: str, url: str) -> SourceError:
    """The SourceError kind for a (redacted) server message, with a hint saying what to do."""
    where = redact_url(url)
    if _AUTH.search(message):
        return SourceAuthError(
            source,
            f"the server refused the credentials or privileges ({message}) at {where}",
            "Check the user and the password environment variable of this source, and that the "
            "user may read the table; not retried, so the account is not locked.",
        )
    if _TIMEOUT.search(message):
        return SourceTimeout(
            source,
            f"the query ran past its time limit ({message}) at {where}",
            "Retry when the server is less busy, narrow the watermark window, or raise timeout_s.",
        )
    if _SCHEMA.search(message):
        return SourceSchemaError(
            source,
            f"a table, column or database is missing ({message}) at {where}",
            "Check the table, watermark and column names in the source catalogue against the "
            "database; the ministry may have renamed them.",
        )
    if _UNREACHABLE.search(message):
        return SourceUnreachable(
            source,
            f"the connection failed ({message}) at {where}",
            "Check that the database server is up and reachable; the load will be retried.",
        )
    return SourceError(
        source,
        f"the query failed ({message}) at {where}",
        "Check the query in the source catalogue; run it by hand on the source to see the error.",
    )
