"""What the warehouse holds: every Delta table found under `<root>/<layer>/<domain>/<table>`."""

from __future__ import annotations

from pathlib import Path

from warehouse.s3 import list_objects
from warehouse.storage import LAYERS, StorageSettings, is_s3_uri, split_s3_uri
from warehouse.tables import TableInfo, TableName, Warehouse


def table_names(settings: StorageSettings) -> list[TableName]:
    """Tables are found by their `_delta_log` folder, one level per layer, domain and table."""
    names: set[TableName] = set()
    for layer in LAYERS:
        root = settings.layer_root(layer)
        if is_s3_uri(root):
            # Listed objects come back as s3://bucket/key whatever the root's spelling (s3a://).
            bucket, prefix = split_s3_uri(root)
            listed_root = f"s3://{bucket}/{prefix}".rstrip("/")
            logs = {
                obj.uri[len(listed_root) + 1 :].split("/_delta_log/")[0]
                for obj in list_objects(settings, root)
                if "/_delta_log/" in obj.uri
            }
        else:
            base = Path(root)
            logs = (
                {str(p.parent.relative_to(base)) for p in base.glob("*/*/_delta_log")}
                if base.is_dir()
                else set()
            )
        for relative in logs:
            parts = relative.split("/")
            if len(parts) == 2:
                names.add(TableName(layer, parts[0], parts[1]))
    order = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(names, key=lambda n: (order[n.layer], n.domain, n.table))


def warehouse_tables(settings: StorageSettings | None = None) -> list[TableInfo]:
    settings = settings or StorageSettings.from_env()
    return Warehouse(settings).infos(table_names(settings))
