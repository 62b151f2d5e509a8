"""Where the warehouse lives and how every engine reaches it.

The one place that turns the environment into storage options for deltalake, Polars and
DuckDB, so a table written by one engine is read by the others with the same credentials.
Production points at any S3 endpoint by environment only: NDC_WAREHOUSE_URI, NDC_GOLD_URI,
NDC_S3_ENDPOINT (or the AWS tools' AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL), AWS_REGION (or
AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, read through `environment.settings()`
(each variable's meaning and default are documented there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlparse

import environment

if TYPE_CHECKING:
    import duckdb

Layer = Literal["bronze", "silver", "quarantine", "gold", "ops"]
LAYERS: tuple[Layer, ...] = get_args(Layer)
# Layers that hold personal data as the ministries sent it: never reachable with gold-only keys.
RAW_LAYERS: tuple[Layer, ...] = ("bronze", "silver", "quarantine", "ops")

DEFAULT_REGION = environment.Settings.model_fields["aws_region"].default
# The endpoint's names, first found wins: ours, then the AWS SDKs' own (service-specific first).
ENDPOINT_VARIABLES = environment.Settings.env_names("s3_endpoint")


def project_root() -> Path:
    """The project directory: NDC_PROJECT_DIR, else the checkout this module lives in, else cwd."""
    if explicit := environment.settings().project_dir:
        return explicit.resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd().resolve()


def default_warehouse_uri() -> str:
    return str(project_root() / ".ndc" / "warehouse")


def is_s3_uri(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix")."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
        raise ValueError(f"not an s3:// URI with a bucket: {uri!r}")
    return parsed.netloc, parsed.path.strip("/")


def _normalise_root(uri: str) -> str:
    """Strip trailing slashes; make local paths absolute so every engine agrees on them."""
    if is_s3_uri(uri) or "://" in uri:
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())


def _check_name(kind: str, name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{kind} must be one path segment without '/', got {name!r}")
    return name


@dataclass(frozen=True)
class StorageSettings:
    warehouse_uri: str
    gold_uri: str | None = None
    endpoint_url: str | None = None
    region: str = DEFAULT_REGION
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageSettings:
        """From the environment (environment.settings()), or from `environ` alone."""
        return cls.from_settings(environment.settings(environ))

    @classmethod
    def from_settings(cls, env: environment.Settings) -> StorageSettings:
        return cls(
            warehouse_uri=_normalise_root(env.warehouse_uri or default_warehouse_uri()),
            gold_uri=_normalise_root(env.gold_uri) if env.gold_uri else None,
            endpoint_url=(env.s3_endpoint or "").rstrip("/") or None,
            region=env.aws_region,
            access_key_id=env.aws_access_key_id,
            secret_access_key=secret.get_secret_value() if (secret := env.aws_secret_access_key) else None,
        )

    # -- where -------------------------------------------------------------------------------

    @property
    def is_s3(self) -> bool:
        return is_s3_uri(self.warehouse_uri) or (self.gold_uri is not None and is_s3_uri(self.gold_uri))

    @property
    def uses_http(self) -> bool:
        return self.endpoint_url is not None and self.endpoint_url.startswith("http://")

    def layer_root(self, layer: Layer) -> str:
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        if layer == "gold" and self.gold_uri:
            return self.gold_uri.rstrip("/")
        return f"{self.warehouse_uri.rstrip('/')}/{layer}"

    def table_uri(self, layer: Layer, domain: str, table: str) -> str:
        """`<root>/<layer>/<domain>/<table>`; gold tables go under `gold_uri` when it is set."""
        root = self.layer_root(layer)
        return f"{root}/{_check_name('domain', domain)}/{_check_name('table', table)}"

    def buckets(self) -> list[str]:
        """The S3 buckets the warehouse uses (one, or two when gold has its own)."""
        roots = [self.warehouse_uri, *([self.gold_uri] if self.gold_uri else [])]
        return sorted({split_s3_uri(root)[0] for root in roots if is_s3_uri(root)})

    # -- how: one credential set, spelled for each engine ------------------------------------

    def _credentials(self) -> dict[str, str]:
        creds: dict[str, str] = {}
        if self.access_key_id:
            creds["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key:
            creds["aws_secret_access_key"] = self.secret_access_key
        return creds

    def delta_storage_options(self) -> dict[str, str] | None:
        """object_store options for deltalake; None for local paths.

        deltalake >= 1.x commits with S3 conditional put (If-None-Match on the log entry), so
        concurrent writers are safe without a lock table. Deliberately no
        `aws_s3_allow_unsafe_rename` and no locking provider: those would hide lost commits.
        """
        if not self.is_s3:
            return None
        options = {"aws_region": self.region, **self._credentials()}
        options["aws_conditional_put"] = "etag"
        if self.endpoint_url:
            options["aws_endpoint_url"] = self.endpoint_url
            # S3-compatible servers (SeaweedFS, MinIO) address buckets by path, not by subdomain.
            options["aws_virtual_hosted_style_request"] = "false"
            if self.uses_http:
                options["aws_allow_http"] = "true"
        return options

    def polars_storage_options(self) -> dict[str, str] | None:
        """Options for pl.scan_delta / scan_parquet / write_delta (object_store keys as well)."""
        return self.delta_storage_options()

    def duckdb_setup(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load httpfs + delta; for S3 create the session secret (endpoint, path style, SSL)."""
        for extension in DUCKDB_EXTENSIONS:
            load_duckdb_extension(con, extension)
        if self.is_s3:
            con.execute(duckdb_secret_sql(self))


DUCKDB_EXTENSIONS = ("httpfs", "delta")


def _packaged_duckdb_extension(name: str) -> Path | None:
    """The extension file shipped by the `duckdb-ext-<name>` wheel (built for our duckdb)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(f"duckdb-ext-{name}")
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.name == f"{name}.duckdb_extension":
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    return None


def load_duckdb_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load a DuckDB extension: already installed/built in, else from its PyPI wheel, else
    INSTALL from DuckDB's repository (needs the internet). Raises one clear error otherwise."""
    import duckdb

    try:
        con.load_extension(name)
        return
    except duckdb.Error:
        pass
    if (packaged := _packaged_duckdb_extension(name)) is not None:
        con.execute(f"LOAD {_sql_literal(str(packaged))}")
        return
    try:
        con.install_extension(name)
        con.load_extension(name)
    except duckdb.Error as error:
        raise RuntimeError(
            f"DuckDB extension {name!r} is not available: install the duckdb-ext-{name} "
            f"package matching duckdb {duckdb.__version__} ({error})"
        ) from error


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_secret_sql(settings: StorageSettings) -> str:
    params = {"TYPE": "s3", "REGION": _sql_literal(settings.region)}
    if settings.access_key_id and settings.secret_access_key:
        params["PROVIDER"] = "config"
        params["KEY_ID"] = _sql_literal(settings.access_key_id)
        params["SECRET"] = _sql_literal(settings.secret_access_key)
    else:
        params["PROVIDER"] = "credential_chain"
    if settings.endpoint_url:
        parsed = urlparse(settings.endpoint_url)
        params["ENDPOINT"] = _sql_literal(parsed.netloc + parsed.path.rstrip("/"))
        params["URL_STYLE"] = "'path'"
        params["USE_SSL"] = "false" if settings.uses_http else "true"
    body = ", ".join(f"{key} {value}" for key, value in params.items())
    return f"CREATE OR REPLACE SECRET ndc_warehouse ({body})"
