"""The source catalogue as typed models: ministry sources, their tables, and canonical entities."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PersonalDataClass = Literal["none", "basic", "sensitive"]
ColumnType = Literal["string", "date", "datetime", "int", "float", "bool", "list[string]"]
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
# A password written into a URL: `scheme://user:secret@host`, unless the secret is a ${VAR} reference.
_LITERAL_PASSWORD = re.compile(r"://[^/:@]+:(?!\$\{)[^@]+@")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityColumn(Model):
    name: str = Field(pattern=IDENTIFIER)
    type: ColumnType = "string"
    pii: PersonalDataClass
    description: str = ""


class PersonKeys(Model):
    """Which entity columns identify the person a record is about (for linkage across ministries)."""

    personal_id: str
    name_key: str | None = None
    date_of_birth: str | None = None
    sex: str | None = None
    birth_province: str | None = None


class Entity(Model):
    """A canonical record type: its columns, key and Great Expectations suite."""

    name: str = Field(pattern=IDENTIFIER)
    description: str
    primary_key: list[str] = Field(min_length=1)
    suite: str
    columns: list[EntityColumn] = Field(min_length=1)
    person: PersonKeys | None = None
    population_register: bool = False  # this entity IS the population register: the identities others link to
    # Further columns that hold a person's personal ID (parents, spouses): legacy CMNDs in them
    # are resolved through the register like the subject's own.
    personal_id_columns: list[str] = Field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> EntityColumn:
        return next(column for column in self.columns if column.name == name)

    @model_validator(mode="after")
    def _keys_are_columns(self) -> Entity:
        names = set(self.column_names)
        duplicated = sorted({n for n in self.column_names if self.column_names.count(n) > 1})
        if duplicated:
            raise ValueError(f"columns declared twice: {', '.join(duplicated)}")
        referenced = list(self.primary_key) + self.personal_id_columns
        if self.person is not None:
            referenced += [v for v in self.person.model_dump().values() if v is not None]
        missing = [key for key in referenced if key not in names]
        if missing:
            raise ValueError(f"keys {missing} are not among the entity's columns {sorted(names)}")
        return self


class ColumnMapping(Model):
    """One canonical column made from one ministry column by a named normaliser."""

    source: str
    to: str = Field(pattern=IDENTIFIER)
    parse: str = "text"
    options: dict[str, Any] = Field(default_factory=dict)
    pii: PersonalDataClass


class Connection(Model):
    """How to reach a source. Strings may hold ${VAR} or ${VAR:-default}, resolved at run time, so
    secrets live in the environment, never in the catalogue."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="after")
    def _no_literal_secrets(self) -> Connection:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, str) and _LITERAL_PASSWORD.search(value):
                raise ValueError(
                    f"'{key}' holds a literal password: write it as ${{SOME_ENV_VAR}} and set that variable"
                )
            if key in {"password", "token", "secret"}:
                raise ValueError(
                    f"'{key}' is a secret: name its environment variable instead ({key}_env: NDC_…)"
                )
        return self

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SoftDelete(Model):
    """The source marks deleted rows instead of removing them."""

    column: str
    values: list[str] = Field(default_factory=lambda: ["1", "true", "True", "Y", "x"])


# How rows deleted at the source reach silver (as tombstones), declared per table, never defaulted:
#   soft_delete: the source flags deleted rows in a column (`soft_delete: {column: ...}`);
#   reconcile:   each load compares the source's keys (key columns only) with silver's live keys;
#   none:        deletions never reach silver; deleted rows stay live (`ndc check` warns).
DeletesPolicy = Literal["soft_delete", "reconcile", "none"]
DELETES_CHOICES = "deletes: reconcile | soft_delete (with soft_delete: {column: ...}) | none"
# File drops carry only the rows a file brings: a key missing from tonight's files was not deleted.
FILE_DROP_KINDS = frozenset({"csv_folder", "file_drop"})


_DURATION = re.compile(r"^\s*(\d+)\s*(d|h|m|s)\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class Table(Model):
    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    table: str | None = None
    query: str | None = None
    entity: str
    # The cursor: which rows (a SQL column) or files (`_file` on a drop) a load has read already.
    watermark: str | None = None
    # The version order: of several versions of one key, the one with the highest value of this
    # source column wins, within a load and across loads (an older version arriving later is
    # quarantined as `superseded`, never landed). Absent: the watermark orders versions, as for a
    # ministry whose update stamp is its cursor. A drop should declare it: its cursor `_file` says
    # which file came later, not which version is newer.
    version_column: str | None = None
    # How far before the high-water mark each incremental load starts again, to catch rows
    # committed late with an older watermark; MERGE absorbs the overlap. "2d", "6h", "30m".
    lookback: timedelta = timedelta(0)
    deletes: DeletesPolicy | None = None  # required: None only to give an actionable message
    soft_delete: SoftDelete | None = None
    # Promotion guards (pipeline/guards.py): a load is not promoted to silver when its share of
    # quarantined rows is this much above the table's recent loads (dates turned to garbage at the
    # source), nor when it would tombstone more than this share of silver's live rows (a source
    # table emptied or cut by mistake). Shares between 0 and 1; 1 turns a guard off.
    max_quarantine_jump: float = Field(default=0.3, ge=0, le=1)
    max_deleted_share: float = Field(default=0.2, ge=0, le=1)
    columns: list[ColumnMapping] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed_reconcile_deletes(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reconcile_deletes" in data:
            raise ValueError(
                "'reconcile_deletes' is now one field: write 'deletes: reconcile' (or 'deletes: none')"
            )
        return data

    @field_validator("lookback", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        if isinstance(value, str) and (match := _DURATION.match(value)):
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        if isinstance(value, str):
            raise ValueError(f"'{value}' is not a duration: write e.g. 2d, 6h or 30m")
        return value

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> Table:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' (a table name) or 'query' (a SELECT)")
        targets = [mapping.to for mapping in self.columns]
        duplicated = sorted({t for t in targets if targets.count(t) > 1})
        if duplicated:
            raise ValueError(f"canonical columns mapped twice: {', '.join(duplicated)}")
        if self.version_column is not None and self.version_column not in self.source_columns:
            raise ValueError(
                f"version_column '{self.version_column}' is not a mapped source column: map it to a "
                f"canonical column (e.g. {{source: {self.version_column}, to: updated_at, parse: datetime}}) "
                f"so that silver keeps the version; mapped: {', '.join(self.source_columns)}"
            )
        return self

    @model_validator(mode="after")
    def _deletes_declared(self) -> Table:
        if self.deletes is None:
            raise ValueError(f"say how deleted rows reach silver: {DELETES_CHOICES}")
        if (self.deletes == "soft_delete") != (self.soft_delete is not None):
            raise ValueError(
                "'deletes: soft_delete' and 'soft_delete: {column: ...}' go together: give both, or neither"
            )
        return self

    @property
    def source_columns(self) -> list[str]:
        return list(dict.fromkeys(mapping.source for mapping in self.columns))


class Source(Model):
    """A ministry system: one connection, several tables."""

    name: str = Field(pattern=IDENTIFIER)
    ministry: str
    description: str = ""
    owner: str = "data-engineering@ndc.gov.vn"
    connection: Connection
    tables: list[Table] = Field(min_length=1)

    @field_validator("tables")
    @classmethod
    def _unique_table_names(cls, tables: list[Table]) -> list[Table]:
        names = [table.name for table in tables]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"table names used twice: {', '.join(duplicated)}")
        return tables

    @model_validator(mode="after")
    def _file_drops_do_not_reconcile(self) -> Source:
        if self.connection.kind not in FILE_DROP_KINDS:
            return self
        for table in self.tables:
            if table.deletes == "reconcile":
                raise ValueError(
                    f"table '{table.name}': a file drop brings only new and changed rows, so reconciling "
                    "its keys would tombstone every earlier row: write 'deletes: none', or 'soft_delete' "
                    "if the files flag deleted rows"
                )
        return self
