"""Connectors: each source kind yields bounded Arrow record batches (see connectors.base).

Kinds and their settings (docs/connectors.md has the details):
- sql: `url` whose scheme picks the dialect (postgresql://, postgres://, mysql://, mariadb://,
  sqlite://, mssql://, oracle://); when `url` is empty or absent, the SQLite file at `path`.
  Optional `timeout_s` (server-side statement limit), `stall_timeout_s` (client-side: the most
  seconds without a batch before the read fails as a timeout; default 600).
- sqlite, postgres, mysql, mariadb, mssql, oracle: `url` (connectorx form), optional `timeout_s`.
- file_drop: `path` or `s3_uri` (+ `endpoint_url`, `region`), optional `formats`, `encoding`, `settle_s`
  (seconds a file must stay unchanged before it is read; default 60, 0 on S3) or `complete_marker` (`.done`:
  a file is read once `<name>.done` exists).
- csv_folder: `path` (the first version's CSV-only drop; `_file` is the name without `.csv`),
  optional `encoding`, `settle_s`, `complete_marker`.
- rest: `base_url`, `token_env`, `pagination`, … (connectors.rest.RestConnector).

The catalogue's models (catalogue/models.py) say which keys each kind takes and refuse any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from connectors.base import DEFAULT_BATCH_ROWS, Connector, ExtractRequest
from connectors.errors import (
    MalformedFile,
    SourceAuthError,
    SourceError,
    SourceSchemaError,
    SourceTimeout,
    SourceUnreachable,
    redact_url,
)
from connectors.files import FILE_COLUMN, FileDropConnector, csv_folder, file_drop_from_settings
from connectors.rest import RestConnector, rest_from_settings
from connectors.sql import STALL_TIMEOUT_S, SqlConnector, sql_target

SQL_KINDS = ("sqlite", "postgres", "mysql", "mariadb", "mssql", "oracle")


def _sql(kind: str) -> Callable[[str, Mapping[str, Any]], Connector]:
    def factory(source: str, settings: Mapping[str, Any]) -> Connector:
        if kind == "sqlite" and "url" not in settings and "path" in settings:
            # A SQLite file by path; connectorx wants sqlite:///absolute/path.
            settings = {**settings, "url": f"sqlite://{Path(settings['path']).resolve()}"}
        if "url" not in settings:
            raise SourceError(source, f"a {kind} connection needs a `url`",
                              "Add `url: ${SOME_ENV_VAR}` to the connection in the source catalogue.")
        return _sql_connector(source, str(settings["url"]), kind, settings)

    return factory


def _sql_connector(source: str, url: str, kind: str, settings: Mapping[str, Any]) -> SqlConnector:
    """The optional limits every SQL connection may declare (see docs/connectors.md)."""

    def seconds(name: str, default: float | None) -> float | None:
        value = settings.get(name, default)
        return float(value) if value is not None else None

    return SqlConnector(
        source, url, kind,
        timeout_s=seconds("timeout_s", None),
        stall_timeout_s=seconds("stall_timeout_s", STALL_TIMEOUT_S),
    )


def sql_from_settings(source: str, settings: Mapping[str, Any]) -> SqlConnector:
    """Kind `sql`: the dialect from the URL's scheme, or the SQLite file at `path` when `url` is
    empty, so one catalogue entry serves a real server (URL in the environment) and the embedded
    default (no URL set)."""
    try:
        dialect, url = sql_target(settings.get("url"), settings.get("path"))
    except ValueError as error:
        raise SourceError(
            source, f"cannot open the sql connection: {error}",
            "Set the source's URL variable (e.g. postgresql://user:${PASSWORD}@host:5432/db) or give "
            "`path` to a SQLite file in the source catalogue.",
        ) from None
    return _sql_connector(source, url, dialect, settings)


_FACTORIES: dict[str, Callable[[str, Mapping[str, Any]], Connector]] = {
    "sql": sql_from_settings,
    **{kind: _sql(kind) for kind in SQL_KINDS},
    "file_drop": file_drop_from_settings,
    "csv_folder": lambda source, s: csv_folder(source, Path(s["path"]), s),
    "rest": rest_from_settings,
}

CONNECTOR_KINDS = tuple(_FACTORIES)


def open_connector(source: str, kind: str, settings: Mapping[str, Any]) -> Connector:
    """The connector for one source; `settings` are already resolved from the environment."""
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise SourceError(
            source, f"unknown connector kind '{kind}'", f"Use one of: {', '.join(CONNECTOR_KINDS)}."
        ) from None
    return factory(source, settings)


__all__ = [
    "CONNECTOR_KINDS",
    "DEFAULT_BATCH_ROWS",
    "FILE_COLUMN",
    "Connector",
    "ExtractRequest",
    "FileDropConnector",
    "MalformedFile",
    "RestConnector",
    "SourceAuthError",
    "SourceError",
    "SourceSchemaError",
    "SourceTimeout",
    "SourceUnreachable",
    "SqlConnector",
    "open_connector",
    "redact_url",
    "sql_from_settings",
]
