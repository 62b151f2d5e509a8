"""Connectors: each source kind yields bounded Arrow record batches (see connectors.base)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from connectors.base import DEFAULT_BATCH_ROWS, Connector, ExtractRequest
from connectors.errors import SourceAuthError, SourceError, SourceSchemaError, SourceUnreachable
from connectors.files import FILE_COLUMN, CsvFolderConnector
from connectors.sql import SqlConnector

SQL_KINDS = ("sqlite", "postgres", "mysql", "mssql", "oracle")

_FACTORIES: dict[str, Callable[[str, Mapping[str, Any]], Connector]] = {
    **{kind: (lambda source, s: SqlConnector(source, str(s["url"]))) for kind in SQL_KINDS},
    # SQLite takes a file path, made absolute because connectorx wants sqlite:///abs/path.
    "sqlite": lambda source, s: SqlConnector(source, s.get("url") or f"sqlite://{Path(s['path']).resolve()}"),
    "csv_folder": lambda source, s: CsvFolderConnector(source, Path(s["path"])),
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
    "SourceAuthError",
    "SourceError",
    "SourceSchemaError",
    "SourceUnreachable",
    "open_connector",
]
