"""Load the catalogue's YAML files, validate them together, and say precisely what is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

import environment
from catalogue.models import Entity, Source, Table, check_standard
from quality.suites import SUITES_DIR, SUITES_ENV
from quality.suites import suites_dir as configured_suites_dir

CATALOGUE_DIR = Path(__file__).resolve().parent  # the default; see catalogue_dir()
CATALOGUE_ENV = "NDC_CATALOGUE_DIR"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

M = TypeVar("M", bound=BaseModel)


class CatalogueError(ValueError):
    """Every problem found in the catalogue, one line each, naming file, source and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"the source catalogue has {len(problems)} problem(s):\n{listing}")


@dataclass(frozen=True)
class TableRef:
    """One catalogue table with what it needs around it."""

    source: Source
    table: Table
    entity: Entity
    # A channel of a table with several (or that table's own first channel): the table whose
    # silver it lands in. None for a table with one channel.
    lands_in: str | None = None

    @property
    def domain(self) -> str:
        return self.source.name

    @property
    def silver_table(self) -> str:
        return self.lands_in or self.table.name

    def channel_refs(self) -> list[TableRef]:
        """Each channel of a table with several, as a table of its own landing in this one's
        silver: the table's own first (its source connection, mapping and name), then the others."""
        own = TableRef(self.source, self.table, self.entity, lands_in=self.table.name)
        others = []
        for channel in self.table.channels:
            table = self.table.channel_table(channel)
            connection = channel.connection or self.source.connection
            source = self.source.model_copy(update={"connection": connection, "tables": [table]})
            others.append(TableRef(source, table, self.entity, lands_in=self.table.name))
        return [own, *others]

    @property
    def key(self) -> str:
        return f"{self.source.name}.{self.table.name}"


@dataclass(frozen=True)
class Catalogue:
    sources: dict[str, Source]
    entities: dict[str, Entity]

    @cached_property
    def tables(self) -> list[TableRef]:
        return [
            TableRef(source, table, self.entities[table.entity])
            for source in self.sources.values()
            for table in source.tables
        ]

    def table(self, key: str) -> TableRef:
        for ref in self.tables:
            if ref.key == key:
                return ref
        raise KeyError(f"no table '{key}' in the catalogue; known: {', '.join(r.key for r in self.tables)}")


def catalogue_dir() -> Path:
    """The catalogue folder: `$NDC_CATALOGUE_DIR` when set (deployments keep the catalogue in a
    separate configuration repository), else the package's own. Read at each call."""
    configured = environment.settings().catalogue_dir
    return configured.expanduser() if configured else CATALOGUE_DIR


def load_catalogue(root: Path | None = None, suites_dir: Path | None = None) -> Catalogue:
    """Read `<root>/entities/*.yml` and `<root>/sources/*.yml`; raise CatalogueError listing every problem.

    `root` defaults to catalogue_dir() and `suites_dir` to quality.suites.suites_dir(), both
    resolved at this call from NDC_CATALOGUE_DIR / NDC_SUITES_DIR.
    """
    problems: list[str] = []
    if root is None:
        root = catalogue_dir()
        if not root.is_dir():
            problems.append(f"{root}: {CATALOGUE_ENV} names no folder (unset it to use {CATALOGUE_DIR})")
    if suites_dir is None:
        suites_dir = configured_suites_dir()
        if not suites_dir.is_dir():
            problems.append(f"{suites_dir}: {SUITES_ENV} names no folder (unset it to use {SUITES_DIR})")
    entities = _load_all(root / "entities", Entity, problems)
    sources = _load_all(root / "sources", Source, problems)
    for path, entity in entities.values():
        if not (suites_dir / f"{entity.suite}.json").is_file():
            problems.append(
                f"{path}: entity '{entity.name}': suite '{entity.suite}' has no file "
                f"{suites_dir / (entity.suite + '.json')}"
            )
    for path, source in sources.values():
        for index, table in enumerate(source.tables):
            where = f"{path}: source '{source.name}': tables[{index}] ('{table.name}')"
            known = {name: e for name, (_, e) in entities.items()}
            problems += _check_table(where, table, known)
            for number, channel in enumerate(table.channels):
                at = f"{where}: channels[{number}] ('{channel.name}')"
                problems += _check_table(at, table.channel_table(channel), known)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(
        sources={name: source for name, (_, source) in sources.items()},
        entities={name: entity for name, (_, entity) in entities.items()},
    )


def _load_all[M: BaseModel](folder: Path, model: type[M], problems: list[str]) -> dict[str, tuple[Path, M]]:
    loaded: dict[str, tuple[Path, M]] = {}
    if not folder.is_dir():
        problems.append(f"{folder}: folder missing (the catalogue needs entities/ and sources/)")
        return loaded
    for path in sorted(folder.glob("*.y*ml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            item = model.model_validate(document)
        except yaml.YAMLError as error:
            problems.append(f"{path}: not valid YAML: {error}")
            continue
        except ValidationError as error:
            name = document.get("name", "?") if isinstance(document, dict) else "?"
            problems += [
                f"{path}: {model.__name__.lower()} '{name}': {_location(e['loc'])}: "
                + e["msg"].removeprefix("Value error, ")
                for e in error.errors()
            ]
            continue
        if item.name in loaded:  # type: ignore[attr-defined]
            problems.append(f"{path}: name '{item.name}' already used in {loaded[item.name][0]}")  # type: ignore[attr-defined]
            continue
        loaded[item.name] = (path, item)  # type: ignore[attr-defined]
    return loaded


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for index, part in enumerate(loc):
        if index and loc[index - 1] == "connection":
            continue  # the connection's kind, which pydantic adds as a step; the message names it
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _check_table(where: str, table: Table, entities: Mapping[str, Entity]) -> list[str]:
    from normalise import check_options  # the rule book decides which normalisers and options exist

    entity = entities.get(table.entity)
    if entity is None:
        return [f"{where}: entity '{table.entity}' is not declared (known: {', '.join(sorted(entities))})"]
    problems = []
    for index, mapping in enumerate(table.columns):
        at = f"{where}: columns[{index}] ({mapping.source} -> {mapping.to})"
        if mapping.to not in entity.column_names:
            problems.append(
                f"{at}: '{mapping.to}' is not a column of entity '{entity.name}' "
                f"(columns: {', '.join(entity.column_names)})"
            )
        try:
            check_options(mapping.parse, mapping.options)
        except ValueError as error:
            problems.append(f"{at}: parse '{mapping.parse}': {error}")
    problems += check_standard(where, table.standard, entity)  # issue 13's declarations
    mapped = {mapping.to for mapping in table.columns}
    unmapped_keys = [key for key in entity.primary_key if key not in mapped]
    if unmapped_keys:
        problems.append(
            f"{where}: primary key column(s) {unmapped_keys} of entity '{entity.name}' are not mapped"
        )
    return problems


def resolve_settings(source: Source, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The connection settings with ${VAR} references replaced from the environment."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if (value := environment.variable(name, environ)) is not None:
            return value
        if default is not None:
            return default
        missing.append(name)
        return ""

    resolved = {
        key: _map_strings(value, lambda s: _ENV_REFERENCE.sub(substitute, s))
        for key, value in source.connection.settings.items()
    }
    if missing:
        raise CatalogueError(
            [
                f"source '{source.name}': connection needs environment variable(s) {', '.join(sorted(set(missing)))}; "
                "set them (secrets belong in the environment, not the catalogue)"
            ]
        )
    return resolved


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value
