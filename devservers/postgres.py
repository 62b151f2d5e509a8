"""A local PostgreSQL server from the Debian package's binaries (initdb, pg_ctl).

devservers/databases.py decides where a server lives and which port it takes; this module knows
only how PostgreSQL is found, initialised, started and stopped, and how its reader role is kept.
Administration goes through the Unix socket, which PostgreSQL trusts: the socket folder is 0700, so
only the service user and root reach it.
"""

from __future__ import annotations

import glob
import shutil
from pathlib import Path
from typing import Any

from devservers.process import (
    HOST,
    ServerBinariesMissing,
    ServerError,
    listening,
    run_checked,
    service_user,
    tail,
    wait_until,
)

SERVICE_USER = "postgres"


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def require_postgres_bin() -> Path:
    bindir = postgres_bin()
    if bindir is None:
        raise ServerBinariesMissing(
            "PostgreSQL server binaries are not installed: apt-get install postgresql (initdb, pg_ctl)"
        )
    return bindir


def start_postgres(state: Path, port: int, durable: bool, timeout: float) -> None:
    bindir = require_postgres_bin()
    user = service_user(SERVICE_USER)
    data, log = state / "data", state / "log" / "server.log"
    if not (data / "PG_VERSION").exists():
        run_checked([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                     "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], user,
                    "initialising PostgreSQL")
    options = f"-p {port} -k {state / 'run'} -c listen_addresses={HOST}" + ("" if durable else " -c fsync=off")
    run_checked([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout)),
                 "start", "-o", options], user, f"starting PostgreSQL (log: {log})")
    # pg_ctl -w has waited already; this only confirms TCP.
    if wait_until(lambda: listening(port), timeout=timeout, interval=0.2) != "ready":
        raise ServerError(f"the server did not listen on {HOST}:{port} within {timeout:.0f}s: {tail(log)}")


def stop_postgres(state: Path, timeout: float) -> None:
    bindir = require_postgres_bin()
    run_checked([str(bindir / "pg_ctl"), "-D", str(state / "data"), "-m", "fast", "-w",
                 "-t", str(int(timeout)), "stop"], service_user(SERVICE_USER), "stopping PostgreSQL")


def admin_connect(socket_dir: Path, port: int, database: str | None) -> Any:
    """An autocommit connection as the superuser `postgres`, over the Unix socket."""
    import psycopg  # here, not above: a MariaDB-only run never loads the PostgreSQL driver

    return psycopg.connect(host=str(socket_dir), port=port, user="postgres",
                           dbname=database or "postgres", autocommit=True)


def connect(host: str, port: int, user: str, password: str, database: str) -> Any:
    """An autocommit connection over TCP with a password."""
    import psycopg

    return psycopg.connect(host=host, port=port, user=user, password=password, dbname=database,
                           autocommit=True)


def ensure_read_user(admin: Any, user: str, password: str) -> None:
    """The login role `user` with `password` (created, or its password reset)."""
    from psycopg import sql

    with admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        admin.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(password)))
