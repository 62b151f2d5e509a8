"""Local PostgreSQL and MariaDB servers for the demo and the tests, from the Debian packages.

A server lives in a state dir (default `.ndc/servers/<kind>`):

    data/       the server's data (owned by the service user, 0700); kept across restarts
    run/        Unix socket (and MariaDB's pid file), owned by the service user, 0700
    log/        server.log
    port        the port it listens on (127.0.0.1 only), reused on the next start while free
    password    generated once, 0600: the password of the demo's read user `ndc` (and MariaDB's root)
    root-secured  (MariaDB) the fresh install's password-less root accounts have been closed

Run as root, the server runs as the non-root `postgres` / `mysql` user (the servers refuse root);
run as anyone else, as that user. Administration goes through the Unix socket: PostgreSQL trusts
local connections (the socket folder is 0700, so only the service user and root reach it), MariaDB's
root has the generated password. The `ndc` user is what the pipeline connects as, over TCP.
What differs between the two servers is in devservers/postgres.py and devservers/mariadb.py.

    start(kind, state_dir) -> LocalServer     start (or reuse) the server; idempotent
    stop(kind, state_dir) -> bool             stop it; the data stays
    status(kind, state_dir) -> ServerStatus

By hand: `uv run python -m devservers.databases start|stop|status postgres|mariadb [--state-dir DIR]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote

from devservers import mariadb, postgres
from devservers.process import (
    HOST,
    ServerError,
    free_port,
    listening,
    pid_alive,
    pid_from,
    service_user,
    terminate,
)
from warehouse.storage import project_root

ServerKind = Literal["postgres", "mariadb"]
READ_USER = "ndc"  # what the pipeline connects as
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, NUL included
_SERVICE_USER: dict[ServerKind, str] = {"postgres": postgres.SERVICE_USER, "mariadb": mariadb.SERVICE_USER}


@dataclass(frozen=True)
class LocalServer:
    """A running local server: where it is, and how to connect as admin (socket) or reader (TCP)."""

    kind: ServerKind
    state_dir: Path
    port: int
    password: str = field(repr=False)
    host: str = HOST
    user: str = READ_USER

    @property
    def socket_dir(self) -> Path:
        return self.state_dir / "run"

    def url(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        """The catalogue URL of one database for the reader (`mariadb://` keeps MariaDB's timeouts)."""
        scheme = "postgresql" if self.kind == "postgres" else "mariadb"
        secret = quote(self.password if password is None else password, safe="")
        return f"{scheme}://{quote(user or self.user, safe='')}:{secret}@{self.host}:{self.port}/{database}"

    def admin_connect(self, database: str | None = None) -> Any:
        """An autocommit DB-API connection as the server's superuser, over the Unix socket."""
        if self.kind == "postgres":
            return postgres.admin_connect(self.socket_dir, self.port, database)
        return mariadb.admin_connect(self.socket_dir / "mysqld.sock", self.password, database)

    def connect(self, database: str, *, user: str | None = None, password: str | None = None) -> Any:
        """An autocommit DB-API connection over TCP as the reader (or `user`/`password`)."""
        server = postgres if self.kind == "postgres" else mariadb
        secret = self.password if password is None else password
        return server.connect(self.host, self.port, user or self.user, secret, database)


@dataclass(frozen=True)
class ServerStatus:
    kind: ServerKind
    state_dir: Path
    initialised: bool  # a data dir exists
    running: bool
    port: int | None
    pid: int | None


def default_state_dir(kind: ServerKind) -> Path:
    return project_root() / ".ndc" / "servers" / kind


def binaries_available(kind: ServerKind) -> bool:
    return (postgres.postgres_bin() if kind == "postgres" else mariadb.mariadb_binaries()) is not None


def start(kind: ServerKind, state_dir: Path | None = None, *, durable: bool = True) -> LocalServer:
    """Start the server of `state_dir` (initialising it the first time), or reuse it if running.

    `durable=False` trades crash safety for speed (fsync off): for throw-away test servers only.
    """
    _check_kind(kind)
    # Binaries first: without the package there is no service user either, and the one line to
    # show is what to install (tests turn it into a skip).
    postgres.require_postgres_bin() if kind == "postgres" else mariadb.require_mariadb_binaries()
    state = (state_dir or default_state_dir(kind)).resolve()
    password = _password(state)
    current = status(kind, state)
    if current.running and current.port is not None:
        server = LocalServer(kind, state, current.port, password)
    else:
        _prepare_dirs(kind, state)
        port = _port(state)
        if kind == "postgres":
            postgres.start_postgres(state, port, durable, START_TIMEOUT_S)
        else:
            mariadb.start_mariadb(state, port, durable, START_TIMEOUT_S)
        server = LocalServer(kind, state, port, password)
    _ensure_read_user(server)
    return server


def stop(kind: ServerKind, state_dir: Path | None = None) -> bool:
    """Stop the server if it runs (its data stays); True when one was stopped."""
    _check_kind(kind)
    state = (state_dir or default_state_dir(kind)).resolve()
    current = status(kind, state)
    if not current.running:
        return False
    if kind == "postgres":
        postgres.stop_postgres(state, STOP_TIMEOUT_S)
        return True
    assert current.pid is not None
    terminate(current.pid, STOP_TIMEOUT_S)
    if (child := mariadb.CHILDREN.pop(current.pid, None)) is not None:
        child.wait(timeout=STOP_TIMEOUT_S)
    return True


def status(kind: ServerKind, state_dir: Path | None = None) -> ServerStatus:
    _check_kind(kind)
    state = (state_dir or default_state_dir(kind)).resolve()
    data = state / "data"
    port = _saved_port(state)
    if kind == "postgres":
        initialised = (data / "PG_VERSION").exists()
        pid = pid_from(data / "postmaster.pid") if initialised else None
    else:
        initialised = (data / "mysql").is_dir()
        pid = pid_from(state / "run" / "mysqld.pid")
    running = pid is not None and pid_alive(pid) and port is not None and listening(port)
    return ServerStatus(kind, state, initialised, running, port, pid if running else None)


def _ensure_read_user(server: LocalServer) -> None:
    """The `ndc` user with the saved password (and, on MariaDB, root locked to it and the socket)."""
    if server.kind == "postgres":
        postgres.ensure_read_user(server.admin_connect(), server.user, server.password)
        return
    marker = server.state_dir / "root-secured"
    if not marker.exists():
        mariadb.secure_root(server.socket_dir / "mysqld.sock", server.password)
        marker.touch()
    mariadb.ensure_read_user(server.admin_connect(), server.user, server.password)


# ---- state dir, port, password -----------------------------------------------------------------

def _prepare_dirs(kind: ServerKind, state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    owner = service_user(_SERVICE_USER[kind])
    if owner:
        # The service user must pass through the state dir (not list it: the password file is here).
        state.chmod(state.stat().st_mode | 0o111)
    for name in ("data", "run", "log"):
        folder = state / name
        folder.mkdir(exist_ok=True)
        folder.chmod(0o700)
        if owner:
            os.chown(folder, owner["user"], owner["group"])
    socket_path = state / "run" / (f".s.PGSQL.{65535}" if kind == "postgres" else "mysqld.sock")
    if len(str(socket_path)) > _SOCKET_PATH_MAX:
        raise ServerError(f"state dir {state} is too deep for a Unix socket path; choose a shorter one")
    if owner:
        probe = subprocess.run(["test", "-w", str(state / "data")], **owner, check=False)
        if probe.returncode != 0:
            name = pwd.getpwuid(owner["user"]).pw_name
            raise ServerError(
                f"user '{name}' cannot reach {state / 'data'}: every folder above it must be "
                f"enterable by others (chmod o+x), or choose a state dir under /tmp or /var/lib"
            )


def _password(state: Path) -> str:
    """The generated password of this state dir, created on first use (0600, URL-safe characters)."""
    state.mkdir(parents=True, exist_ok=True)
    path = state / "password"
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def _saved_port(state: Path) -> int | None:
    try:
        return int((state / "port").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _port(state: Path) -> int:
    """The saved port while it is free, else a free one (saved for next time)."""
    port = _saved_port(state)
    if port is None or listening(port):
        port = free_port()
        (state / "port").write_text(f"{port}\n")
    return port


def _check_kind(kind: str) -> None:
    if kind not in get_args(ServerKind):
        raise ValueError(f"server kind '{kind}' is not one of {', '.join(get_args(ServerKind))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservers.databases", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("kind", choices=get_args(ServerKind))
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.action == "start":
        server = start(args.kind, args.state_dir)
        print(f"{args.kind} on {server.host}:{server.port} (user {server.user}, password in "
              f"{server.state_dir / 'password'}, data in {server.state_dir / 'data'})")
    elif args.action == "stop":
        print("stopped" if stop(args.kind, args.state_dir) else "not running")
    else:
        print(status(args.kind, args.state_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
