"""`ndc storage up|status|down|check`: the local SeaweedFS S3 server and a connectivity check.

The main CLI loads this group lazily (LAZY_GROUPS in orchestration/cli.py): only `ndc storage …` and `ndc --help` import it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

import environment
from devservers.seaweedfs import DEFAULT_S3_PORT, SeaweedError, SeaweedServer
from warehouse.s3 import check
from warehouse.storage import StorageSettings, is_s3_uri, project_root, split_s3_uri
from warehouse.store_errors import StorageError

DEFAULT_BUCKET = "ndc-warehouse"


def default_state_dir() -> Path:
    return environment.settings().seaweedfs_dir or project_root() / ".ndc" / "seaweedfs"


def _buckets_from_env(server: SeaweedServer) -> tuple[str, str | None]:
    """Warehouse (and optional gold) bucket: from NDC_WAREHOUSE_URI / NDC_GOLD_URI when they are
    s3:// URIs, else the default bucket."""
    env = environment.settings()
    warehouse, gold = env.warehouse_uri or "", env.gold_uri or ""
    warehouse_bucket = split_s3_uri(warehouse)[0] if is_s3_uri(warehouse) else DEFAULT_BUCKET
    gold_bucket = split_s3_uri(gold)[0] if is_s3_uri(gold) else None
    return warehouse_bucket, gold_bucket


def _exports(server: SeaweedServer, settings: StorageSettings, *, show_secret: bool) -> list[str]:
    lines = [
        f"export NDC_S3_ENDPOINT={server.endpoint_url}",
        f"export NDC_WAREHOUSE_URI={environment.settings().warehouse_uri or settings.warehouse_uri}",
    ]
    if settings.gold_uri:
        lines.append(f"export NDC_GOLD_URI={settings.gold_uri}")
    lines.append(f"export AWS_REGION={settings.region}")
    if show_secret:
        lines += [
            f"export AWS_ACCESS_KEY_ID={shlex.quote(server.access_key)}",
            f"export AWS_SECRET_ACCESS_KEY={shlex.quote(server.secret_key)}",
        ]
    else:
        lines.append("# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: as already set in your environment")
    return lines


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the server keeps data, pid and log (default .ndc/seaweedfs, or NDC_SEAWEEDFS_DIR).",
)


@click.group()
def storage() -> None:
    """The warehouse's object storage: a local S3 server for development, and checks."""


@storage.command()
@state_dir_option
@click.option("--s3-port", type=int, default=None, help=f"S3 port (default {DEFAULT_S3_PORT}).")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait.")
def up(state_dir: Path | None, s3_port: int | None, timeout: float) -> None:
    """Start SeaweedFS on 127.0.0.1 (if not running), wait until ready, create the bucket(s)."""
    state_dir = state_dir or default_state_dir()
    env = environment.settings()
    env_key = env.aws_access_key_id
    env_secret = env.aws_secret_access_key.get_secret_value() if env.aws_secret_access_key else None
    saved = SeaweedServer.load(state_dir)
    port = s3_port or (saved.ports.s3 if saved else DEFAULT_S3_PORT)
    try:
        server = SeaweedServer.prepare(state_dir, access_key=env_key, secret_key=env_secret, s3_port=port)
        was_running = server.running_pid() is not None
        pid = server.start(timeout=timeout)
        warehouse_bucket, gold_bucket = _buckets_from_env(server)
        settings = server.settings(warehouse_bucket, gold_bucket)
        report = check(settings, create=True)
    except (SeaweedError, StorageError) as error:
        raise click.ClickException(str(error)) from error
    verb = "already running" if was_running else "started"
    click.echo(f"SeaweedFS {verb} (pid {pid}) at {server.endpoint_url}; data in {state_dir / 'data'}")
    click.echo(f"buckets: {report.summary()}")
    click.echo("To use it:")
    for line in _exports(server, settings, show_secret=not (env_key and env_secret)):
        click.echo(f"  {line}")


@storage.command()
@state_dir_option
def status(state_dir: Path | None) -> None:
    """Say whether the local server runs and answers; exit 1 when it does not."""
    state_dir = state_dir or default_state_dir()
    server = SeaweedServer.load(state_dir)
    pid = server.running_pid() if server else None
    if server is None or pid is None:
        click.echo(f"SeaweedFS is not running (state dir {state_dir})")
        raise SystemExit(1)
    health = "ready" if server.is_ready() else "NOT answering"
    click.echo(f"SeaweedFS running (pid {pid}) at {server.endpoint_url}: {health}")
    if health != "ready":
        raise SystemExit(1)


@storage.command()
@state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the local server (data stays in the state dir)."""
    state_dir = state_dir or default_state_dir()
    server = SeaweedServer.load(state_dir)
    if server is None or not server.stop():
        click.echo("SeaweedFS was not running")
        return
    click.echo("SeaweedFS stopped")


@storage.command(name="check")
@click.option("--create", is_flag=True, help="Create missing buckets instead of failing.")
def check_command(create: bool) -> None:
    """Reach the configured warehouse (NDC_* / AWS_* environment) and say what is wrong if not."""
    settings = StorageSettings.from_env()
    if not settings.is_s3:
        click.echo(f"local warehouse at {settings.warehouse_uri}: nothing to check")
        return
    try:
        report = check(settings, create=create)
    except StorageError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"ok: {report.summary()}")
