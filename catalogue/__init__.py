"""The source catalogue: ministry sources and canonical entities, declared in YAML and validated on load."""

from catalogue.loader import (
    CATALOGUE_DIR,
    Catalogue,
    CatalogueError,
    TableRef,
    load_catalogue,
    resolve_settings,
)
from catalogue.models import (
    ColumnMapping,
    Connection,
    ConnectionSettings,
    Entity,
    EntityColumn,
    Source,
    Table,
)

__all__ = [
    "CATALOGUE_DIR",
    "Catalogue",
    "CatalogueError",
    "ColumnMapping",
    "Connection",
    "ConnectionSettings",
    "Entity",
    "EntityColumn",
    "Source",
    "Table",
    "TableRef",
    "load_catalogue",
    "resolve_settings",
]
