"""The source catalogue as typed models: ministry sources, their tables, and canonical entities.

Over 300 lines because it is the catalogue's whole schema in one place (one pydantic model per
YAML block, with the validators that turn a mistake into one line): splitting it would scatter
the cross-block checks (a table's columns against its entity, a connection against its kind)."""

from __future__ import annotations

import re
from datetime import timedelta
from difflib import get_close_matches
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

PersonalDataClass = Literal["none", "basic", "sensitive"]
ColumnType = Literal["string", "date", "datetime", "int", "float", "bool", "list[string]"]
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
# A password written into a URL: `scheme://user:secret@host`, unless the secret is a ${VAR} reference.
_LITERAL_PASSWORD = re.compile(r"://[^/:@]+:(?!\$\{)[^@]+@")


class Model(BaseModel):
    """Every catalogue model refuses a key it does not know, naming the allowed ones: a mistyped key
    silently ignored is a setting that does not apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Keys that are not fields but a likely mistake, with what to write instead.
    _hints: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                raise ValueError("; ".join(unknown_key_message(cls, str(key), data) for key in unknown))
        return data


def unknown_key_message(model: type[BaseModel], key: str, data: dict[str, Any]) -> str:
    """One sentence: the unknown key, where (a connection's kind), what was meant, what is allowed."""
    allowed = list(model.model_fields)
    hints: dict[str, str] = getattr(model, "_hints", {})
    kind = f" of a '{data['kind']}' connection" if "kind" in allowed and "kind" in data else ""
    if key in hints:
        meant = f": {hints[key]}"
    elif close := get_close_matches(key, allowed, n=1, cutoff=0.6):
        meant = f" (did you mean '{close[0]}'?)"
    else:
        meant = ""
    return f"unknown key '{key}'{kind}{meant}; allowed keys: {', '.join(allowed)}"


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
    birth_province: str | None = None  # the province of birth registration, legacy code list
    # The same in the 2025 code list: a source written after 1 July 2025 holds only these, and 2025
    # → legacy is not one-to-one, so its records are matched on the 2025 code (pipeline/link.py).
    birth_province_2025: str | None = None


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
    # Its records register deaths (civil status's death registrations): gold marks the people they
    # link to as `death_registered` (pipeline/gold.py), instead of gold naming the entity. Needs `person`.
    records_death: bool = False

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
        if self.records_death and self.person is None:
            raise ValueError("records_death needs `person`: a death is marked on the person it links to")
        return self


class ColumnMapping(Model):
    """One canonical column made from one ministry column by a named normaliser."""

    source: str
    to: str = Field(pattern=IDENTIFIER)
    parse: str = "text"
    options: dict[str, Any] = Field(default_factory=dict)
    pii: PersonalDataClass


# A setting that is a number may also be a ${VAR} reference, resolved at run time.
ENV_REFERENCE = r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"
EnvReference = Annotated[str, StringConstraints(pattern=ENV_REFERENCE)]
Seconds = Annotated[float, Field(ge=0)] | EnvReference
# The text encodings a file drop may declare; `auto` detects each file's (connectors/encodings.py).
Encoding = Literal["auto", "utf-8", "utf-8-sig", "cp1258", "tcvn3", "vni"]
SqlDialect = Literal["sqlite", "postgres", "mysql", "mariadb", "mssql", "oracle"]
_SECRET_KEYS = ("password", "token", "secret")


class ConnectionSettings(Model):
    """How to reach a source: one model per `kind`, so a key the kind does not read is refused
    rather than ignored. Strings may hold ${VAR} or ${VAR:-default}, resolved at run time, so
    secrets live in the environment, never in the catalogue."""

    _hints: ClassVar[dict[str, str]] = {
        **dict.fromkeys(
            _SECRET_KEYS,
            "a secret never goes in the catalogue: write it as ${SOME_ENV_VAR} inside `url`, "
            "or name its environment variable (token_env: NDC_… for rest)",
        ),
        "encoding": "`encoding` is read from file drops only (kind file_drop or csv_folder): "
        "a database or an API hands over text already decoded",
        "partitions": "`partitions` is not read: the pipeline never splits a table's read "
        "(partitioned reads are a connector option for benchmarks only); remove it",
    }

    @model_validator(mode="after")
    def _no_literal_secrets(self) -> ConnectionSettings:
        for key, value in self.settings.items():
            if isinstance(value, str) and _LITERAL_PASSWORD.search(value):
                raise ValueError(
                    f"'{key}' holds a literal password: write it as ${{SOME_ENV_VAR}} and set that variable"
                )
        return self

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the catalogue gives, without `kind` (connectors apply their own defaults)."""
        return self.model_dump(exclude={"kind"}, exclude_unset=True)


class SqlConnection(ConnectionSettings):
    """`kind: sql`: the dialect from the scheme of `url`; when `url` is empty or absent, the SQLite
    file at `path` (one entry serves a real server and the embedded demo file)."""

    kind: Literal["sql"]
    url: str | None = None
    path: str | None = None
    timeout_s: Seconds | None = None  # server-side statement limit
    stall_timeout_s: Seconds | None = None  # client-side: most seconds without a batch


class DialectConnection(ConnectionSettings):
    """`kind: postgres` (or another dialect): a connectorx `url`; a SQLite file may be a `path`."""

    kind: SqlDialect
    url: str | None = None
    path: str | None = None
    timeout_s: Seconds | None = None
    stall_timeout_s: Seconds | None = None


class FileDropConnection(ConnectionSettings):
    """`kind: file_drop`: a folder (`path`) or an S3 prefix (`s3_uri`), one sub-folder per table."""

    kind: Literal["file_drop"]
    path: str | None = None
    s3_uri: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    formats: list[Literal["csv", "excel", "parquet", "jsonl"]] | None = None
    settle_s: Seconds | None = None
    complete_marker: str | None = None
    encoding: Encoding = "auto"


class CsvFolderConnection(ConnectionSettings):
    """`kind: csv_folder`: the first version's CSV-only drop; `_file` is the name without `.csv`."""

    kind: Literal["csv_folder"]
    path: str
    settle_s: Seconds | None = None
    complete_marker: str | None = None
    encoding: Encoding = "auto"


class RestConnection(ConnectionSettings):
    """`kind: rest`: a JSON API (connectors.rest.RestConnector reads these)."""

    kind: Literal["rest"]
    base_url: str
    token_env: str | None = None
    pagination: Literal["page", "next_link", "none"] | None = None
    records_key: str | None = None
    page_param: str | None = None
    page_size_param: str | None = None
    page_size: int | EnvReference | None = None
    start_page: int | EnvReference | None = None
    next_key: str | None = None
    since_param: str | None = None
    until_param: str | None = None
    params: dict[str, str] | None = None
    max_rps: float | EnvReference | None = None
    max_retries: int | EnvReference | None = None
    backoff_s: Seconds | None = None
    max_backoff_s: Seconds | None = None
    timeout_s: Seconds | None = None


AnyConnection = Annotated[
    SqlConnection | DialectConnection | FileDropConnection | CsvFolderConnection | RestConnection,
    Field(discriminator="kind"),
]


class Connection(RootModel[AnyConnection]):
    """A source's connection, typed by its `kind`: `Connection(kind="sql", url=...)` builds the
    model of that kind; `.kind` and `.settings` read through to it."""

    model_config = ConfigDict(frozen=True)

    @property
    def kind(self) -> str:
        return self.root.kind

    @property
    def settings(self) -> dict[str, Any]:
        return self.root.settings


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


class Channel(Model):
    """One more way the same records arrive (e.g. provincial CSV drops beside the central
    database): its own connection, source table and column mapping, landing in its table's silver
    table under its table's duplicate rule. Its rows are counted in a load record of its own,
    `<table>__<channel>`, and its bronze and quarantine tables carry that name too."""

    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    connection: Connection | None = None  # None: the source's own connection
    table: str | None = None
    query: str | None = None
    watermark: str | None = None
    lookback: timedelta = timedelta(0)
    # Required: the channel's own column holding the version stamp (mapped like the table's).
    version_column: str | None = None
    columns: list[ColumnMapping] = Field(min_length=1)

    @field_validator("lookback", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return parse_duration(value)


# --- Project 06 data standard (issue 13): which columns count for "correct, complete, live" ---
# A separate, optional block per table (`standard:`), so the four criteria are declared as data:
#   important:   canonical columns a record must hold to count as complete;
#   identifying: person roles compared with the register for "correct" (default: every role the
#                entity maps besides the personal ID: name_key, date_of_birth, sex, birth_province);
#   freshness:   a record is "live" when its watermark is within this of the measurement (e.g. 365d).
# Checked against the entity by catalogue.loader (`check_standard`); documented in docs/data-standard.md.
PERSON_ROLES = ("name_key", "date_of_birth", "sex", "birth_province")


def parse_duration(value: Any) -> Any:
    """"2d", "6h", "30m", "10s" as a timedelta; other values unchanged (pydantic checks them)."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if isinstance(value, str):
        raise ValueError(f"'{value}' is not a duration: write e.g. 2d, 6h or 30m")
    return value


class DataStandard(Model):
    important: list[str] = Field(default_factory=list)
    identifying: list[Literal["name_key", "date_of_birth", "sex", "birth_province"]] | None = None
    freshness: timedelta | None = None

    @field_validator("freshness", mode="before")
    @classmethod
    def _parse_freshness(cls, value: Any) -> Any:
        return parse_duration(value)


def check_standard(where: str, standard: DataStandard | None, entity: Entity) -> list[str]:
    """Problems of a table's `standard:` block against its entity, one actionable line each."""
    if standard is None:
        return []
    problems = [
        f"{where}: standard.important: '{name}' is not a column of entity '{entity.name}' "
        f"(columns: {', '.join(entity.column_names)})"
        for name in standard.important
        if name not in entity.column_names
    ]
    # Completeness is measured on silver's basic table; sensitive columns live apart (Decree 13).
    problems += [
        f"{where}: standard.important: '{name}' is sensitive (kept apart from silver's basic table): "
        "leave it out of the important columns"
        for name in standard.important
        if name in entity.column_names and entity.column(name).pii == "sensitive"
    ]
    mapped_roles = [r for r in PERSON_ROLES if entity.person is not None and getattr(entity.person, r)]
    for role in standard.identifying or []:
        if role not in mapped_roles:
            problems.append(
                f"{where}: standard.identifying: entity '{entity.name}' maps no '{role}' in its person keys "
                f"(it maps: {', '.join(mapped_roles) or 'none'})"
            )
    return problems


class Table(Model):
    _hints: ClassVar[dict[str, str]] = {
        "reconcile_deletes": "'reconcile_deletes' is now one field: write 'deletes: reconcile' (or 'deletes: none')"
    }

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
    standard: DataStandard | None = None  # the data standard's declarations (block above)

    # More channels feeding the same silver table (docs/adding-a-source.md, "Several channels").
    channels: list[Channel] = Field(default_factory=list)

    @field_validator("lookback", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return parse_duration(value)

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
    def _channels_agree(self) -> Table:
        """Channels share one version order and one silver table; deletions cannot be reconciled
        against any one of them (a key missing from one channel may come by another)."""
        if not self.channels:
            return self
        names = [self.name, *(channel.name for channel in self.channels)]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must differ from each other and from the table: {names}")
        if self.version_column is None:
            raise ValueError(
                "a table with channels needs version_column (and each channel its own): a SQL cursor "
                "and a file name cannot order each other's versions"
            )
        if self.deletes == "reconcile":
            raise ValueError(
                "a table with channels cannot reconcile deletions: a key missing from one channel may "
                "come by another; write 'deletes: none' or 'soft_delete'"
            )
        version = next((m.to for m in self.columns if m.source == self.version_column), None)
        for channel in self.channels:
            where = f"channel '{channel.name}'"
            if (channel.table is None) == (channel.query is None):
                raise ValueError(f"{where}: give exactly one of 'table' or 'query'")
            mapped = {m.source: m.to for m in channel.columns}
            if channel.version_column is None or mapped.get(channel.version_column) != version:
                raise ValueError(
                    f"{where}: version_column must name the channel's column mapped to '{version}' "
                    f"(the table's version order); mapped: {', '.join(mapped)}"
                )
        return self

    def channel_table(self, channel: Channel) -> Table:
        """A channel as a table of its own (named `<table>__<channel>`), for the pipeline to load."""
        return self.model_copy(update={
            "name": f"{self.name}__{channel.name}", "description": channel.description or self.description,
            "table": channel.table, "query": channel.query, "watermark": channel.watermark,
            "lookback": channel.lookback, "version_column": channel.version_column,
            "columns": channel.columns, "soft_delete": None,
            "deletes": "none" if self.deletes == "soft_delete" else self.deletes, "channels": [],
        })

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
