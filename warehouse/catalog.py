"""What the warehouse holds: every Delta table found under `<root>/<layer>/<domain>/<table>`.

The one table discovery: the catalogue (`ndc tables`, SQL views), Dagster's definitions and the
maintenance job all list tables through `discover`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from warehouse.objects import ObjectStore
from warehouse.storage import LAYERS, Layer, StorageSettings, is_s3_uri, split_s3_uri
from warehouse.store_errors import StorageError
from warehouse.tables import TableInfo, TableName, Warehouse

LOG_DIR = "_delta_log"  # a folder holding one is a Delta table


@dataclass(frozen=True)
class Discovery:
    """The tables found, and the zones the credentials could not list (e.g. a gold-only key)."""

    names: list[TableName]
    unreadable: dict[Layer, str]  # layer → why (the storage error's first line)

    def note(self) -> str | None:
        """One line for the analyst when some zones were not readable, else None."""
        if not self.unreadable:
            return None
        layers = ", ".join(self.unreadable)
        return f"not readable with these credentials, so not listed: {layers}"


def discover(settings: StorageSettings, layers: Sequence[Layer] = LAYERS) -> Discovery:
    """Tables are found by their `_delta_log` folder, one level per layer, domain and table.

    A zone the credentials may not list (analysts hold gold-only keys) is reported, not fatal:
    the tables that can be read are still found.
    """
    names: set[TableName] = set()
    unreadable: dict[Layer, str] = {}
    for layer in layers:
        try:
            logs = _table_folders(settings, settings.layer_root(layer))
        except StorageError as error:
            unreadable[layer] = str(error).splitlines()[0]
            continue
        for relative in logs:
            parts = relative.split("/")
            if len(parts) == 2:
                names.add(TableName(layer, parts[0], parts[1]))
    order = {layer: i for i, layer in enumerate(LAYERS)}
    return Discovery(sorted(names, key=lambda n: (order[n.layer], n.domain, n.table)), unreadable)


def _table_folders(settings: StorageSettings, root: str) -> set[str]:
    """`domain/table` of every Delta table under one layer root."""
    if is_s3_uri(root):
        # Listed objects come back as s3://bucket/key whatever the root's spelling (s3a://).
        bucket, prefix = split_s3_uri(root)
        listed_root = f"s3://{bucket}/{prefix}".rstrip("/")
        return {
            obj.uri[len(listed_root) + 1 :].split(f"/{LOG_DIR}/")[0]
            for obj in ObjectStore.of(settings).list(root)
            if f"/{LOG_DIR}/" in obj.uri
        }
    base = Path(root)
    if not base.is_dir():
        return set()
    return {str(p.parent.relative_to(base)) for p in base.glob(f"*/*/{LOG_DIR}")}


def table_names(settings: StorageSettings) -> list[TableName]:
    """Every table the credentials can list (zones they cannot are skipped: see `discover`)."""
    return discover(settings).names


def table_uris(settings: StorageSettings, layers: Sequence[Layer] = LAYERS) -> list[tuple[str, str]]:
    """`layer.domain.table` and URI of every table of `layers` the credentials can list (what
    the maintenance job works through)."""
    return [(str(n), settings.table_uri(n.layer, n.domain, n.table)) for n in discover(settings, layers).names]


def warehouse_tables(settings: StorageSettings | None = None) -> list[TableInfo]:
    return table_infos(settings).infos


@dataclass(frozen=True)
class Listing:
    infos: list[TableInfo]
    discovery: Discovery


def table_infos(settings: StorageSettings | None = None) -> Listing:
    """Name, rows, version and last update of every readable table, with the zones skipped."""
    settings = settings or StorageSettings.from_env()
    found = discover(settings)
    return Listing(Warehouse(settings).infos(found.names), found)
