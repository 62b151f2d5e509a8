"""Every environment setting of the pipeline, typed, in one place: `settings()`.

The pipeline's modules never read `os.environ` themselves: they ask `settings()` for a typed
value (a `Path`, a `date`, one of a few words), and a variable named by the catalogue (a
connection's `${VAR}`, a REST source's `token_env`) through `variable()`. Each field below says
what its variable does and its default; `Settings.variables()` lists them all (the README's
configuration table is this list).

Values are read when asked, not at import: `settings()` builds a fresh `Settings` from the
environment at each call (1–2 ms on a busy 2-core machine; no caller is in a hot loop). No cache, because the
environment legitimately changes after import: `ndc` sets its local defaults (DAGSTER_HOME,
NDC_DEMO_DIR) before it runs a job, `dagster dev` and tests export a variable after the code
was loaded, and Dagster forks step processes from a preloaded server, which would inherit a
stale cached copy. So there is nothing for tests to reset either.

Blank values count as unset (`NDC_TODAY=` is no date), except `NDC_CACHE_DIR=` which turns the
cache off. A value of the wrong kind is a `SettingsError`: one line naming the variable, what it
should be, and that unsetting it gives the default. Secrets are `SecretStr` (repr and logs show
`**********`); Dagster resources still take theirs through `dg.EnvVar` (orchestration.resources),
so the UI and the run config never hold them.

This package is the lowest layer: it imports nothing of the project, and not Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "settings", "variable"]

ENV_PREFIX = "NDC_"


class SettingsError(ValueError):
    """An environment variable holds a value of the wrong kind; the message is one line naming it.

    `ndc` prints it as `error: <line>` (orchestration.errors lists this type among the known ones).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseSettings):
    """The environment, typed. Field `x` reads `NDC_X` unless its alias names other variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        env_file=None,
        secrets_dir=None,
    )

    # -- where: the project, the warehouse and its storage -------------------------------------
    env: Literal["local", "production"] = Field(
        "local", description="`local` or `production` (production takes every setting from the environment)"
    )
    project_dir: Path | None = Field(
        None, description="the project folder (.ndc/ state lives under it); default: the checkout, else cwd"
    )
    warehouse_uri: str | None = Field(
        None, description="warehouse root: a folder or s3://bucket/prefix; default <project>/.ndc/warehouse"
    )
    gold_uri: str | None = Field(
        None, description="a separate root (bucket) for gold; default <warehouse>/gold"
    )
    s3_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("NDC_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        description="S3-compatible endpoint, e.g. http://127.0.0.1:8333 (first set of NDC_S3_ENDPOINT, "
        "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL); default: AWS",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="S3 region (AWS_REGION, else AWS_DEFAULT_REGION); default us-east-1",
    )
    aws_access_key_id: str | None = Field(
        None,
        validation_alias="AWS_ACCESS_KEY_ID",
        description="S3 access key id; required for an s3:// warehouse",
    )
    aws_secret_access_key: SecretStr | None = Field(
        None,
        validation_alias="AWS_SECRET_ACCESS_KEY",
        description="S3 secret key (secret); required for an s3:// warehouse",
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="key of gold's keyed hash, at least 32 bytes (secret); default: none (the demo key "
        "in the demo's own warehouse only)",
    )

    # -- querying and its audit trail ----------------------------------------------------------
    sql_role: Literal["analyst", "restricted"] = Field(
        "analyst", description="`analyst` (gold only) or `restricted` (also the raw zones) for `ndc sql`"
    )
    analyst: str | None = Field(None, description="the person behind a shared OS account, in the audit trail")
    audit_uri: str | None = Field(
        None, description="where `ndc sql` appends its audit trail; default <warehouse>/ops/audit/queries"
    )

    # -- the catalogue, suites and the pipeline's folders --------------------------------------
    catalogue_dir: Path | None = Field(
        None, description="the source catalogue (entities/ and sources/); default the package's catalogue/"
    )
    suites_dir: Path | None = Field(
        None, description="the Great Expectations suite files; default quality/gx/expectations"
    )
    demo_dir: Path | None = Field(None, description="where the demo sources are; default <project>/.ndc/demo")
    staging_dir: Path | None = Field(
        None,
        description="root of the private (0700) staging folders of loads; default the system temp folder",
    )
    cache_dir: Path | None = Field(
        default_factory=lambda: Path.home() / ".cache" / "ndc",
        description="cache of the administrative-unit tables; set empty to turn it off; default ~/.cache/ndc",
    )
    seaweedfs_dir: Path | None = Field(
        None, description="state of the local S3 server (`ndc storage up`); default <project>/.ndc/seaweedfs"
    )
    today: date | None = Field(
        None,
        description="the date validation and the data standard treat as today (YYYY-MM-DD); default today",
    )

    # -- Dagster, links and alerts -------------------------------------------------------------
    executor: Literal["local", "k8s"] = Field(
        "local", description="`local` (steps are processes of the run) or `k8s` (a pod per step)"
    )
    dagster_home: Path | None = Field(
        None,
        validation_alias="DAGSTER_HOME",
        description="Dagster's instance folder; `ndc` defaults it to .ndc/dagster",
    )
    docs_url: str | None = Field(
        None,
        description="base of the Data Docs links (where `ndc docs serve` answers); default http://127.0.0.1:3070",
    )
    ui_url: str = Field("http://127.0.0.1:3000", description="the Dagster UI, for the run links in alerts")
    alert_webhook_url: SecretStr | None = Field(
        None,
        description="where failed runs are posted as JSON (secret: only its host is logged); default: logged only",
    )

    # Variables whose value is kept exactly (the key's bytes are the hash's); others are stripped.
    _RAW: ClassVar[frozenset[str]] = frozenset({"NDC_PSEUDONYM_KEY"})
    # Variables for which an empty value means something (not "unset").
    _EMPTY_MEANS: ClassVar[frozenset[str]] = frozenset({"NDC_CACHE_DIR"})

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _empty_cache_dir_is_off(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @classmethod
    def env_names(cls, field: str) -> tuple[str, ...]:
        """The variables a field reads, first found wins."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, AliasChoices):
            return tuple(str(choice) for choice in alias.choices)
        if isinstance(alias, str):
            return (alias,)
        return (f"{ENV_PREFIX}{field.upper()}",)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every variable (its first name) → its one-line description."""
        return {cls.env_names(name)[0]: info.description or "" for name, info in cls.model_fields.items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings from this mapping only (the process environment, or a test's dict)."""
        prepared = {}
        for name, value in environ.items():
            key = name.upper()
            if value is None:
                continue
            kept = value if key in cls._RAW else value.strip()
            if kept or key in cls._EMPTY_MEANS:
                prepared[name] = kept
        try:
            return cls(_build_sources=((_MappingSource(cls, prepared),), {}))
        except ValidationError as error:
            raise SettingsError([_problem(cls, item, prepared) for item in error.errors()]) from None


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ.

    Leans on two semi-private hooks (`_load_env_vars`, `_build_sources`), hence the pin
    `pydantic-settings>=2.16,<3`; tests/test_settings.py fails first if an upgrade moves them.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _problem(cls: type[Settings], item: Any, environ: Mapping[str, str]) -> str:
    """One line: the variable, its value (never a secret's), what it should be, what to do."""
    loc = str(item["loc"][0]) if item.get("loc") else ""
    field = loc if loc in cls.model_fields else _field_of_alias(cls, loc)
    if field is None:
        return f"environment: {item['msg']}"
    upper = {key.upper(): value for key, value in environ.items()}
    names = cls.env_names(field)
    name = next((n for n in names if n in upper), names[0])
    info: FieldInfo = cls.model_fields[field]
    shown = "(hidden)" if "SecretStr" in repr(info.annotation) else repr(upper.get(name, ""))
    choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
    if choices:
        return f"{name}={shown} is not one of {', '.join(choices)}: set one of them, or unset it for {info.default}"
    message = " ".join(str(item["msg"]).split())
    return f"{name}={shown} is not valid ({message[:1].lower()}{message[1:]}): fix it or unset it ({info.description})"


def _field_of_alias(cls: type[Settings], alias: str) -> str | None:
    for field in cls.model_fields:
        if alias.upper() in cls.env_names(field):
            return field
    return None


def settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """The settings now (built at each call: see the module's docstring), or from `environ` alone;
    `overrides` (variable → value) replace variables for this call, e.g. a resource's own fields."""
    source = os.environ if environ is None else environ
    return Settings.from_environ({**source, **overrides} if overrides else source)


def variable(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """One variable by name, exactly as set (None if unset): for names the catalogue gives (a
    connection's `${VAR}`, a REST source's `token_env`: data, not fields, since each deployment's
    catalogue picks its own), and to ask whether a variable is set at all (a `dg.EnvVar` is only
    declared for a set one). Their values are secrets more often than not: never log them.
    """
    return (os.environ if environ is None else environ).get(name)
