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

    start(kind, state_dir) -> LocalServer     start (or reuse) the server; idempotent
    stop(kind, state_dir) -> bool             stop it; the data stays
    status(kind, state_dir) -> ServerStatus

By hand: `uv run python -m demo.servers start|stop|status postgres|mariadb [--state-dir DIR]`.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote

ServerKind = Literal["postgres", "mariadb"]
HOST = "127.0.0.1"
READ_USER = "ndc"  # what the pipeline connects as
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, NUL included
_SERVICE_USER: dict[ServerKind, str] = {"postgres": "postgres", "mariadb": "mysql"}
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # MariaDB servers this process started


class ServerError(RuntimeError):
    """A local server could not be started, reached or stopped; the message says why and what to do."""


class ServerBinariesMissing(ServerError):
    """The server's Debian package is not installed (tests skip on this, nothing else)."""


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
            import psycopg

            return psycopg.connect(
                host=str(self.socket_dir), port=self.port, user="postgres",
                dbname=database or "postgres", autocommit=True,
            )
        return _mariadb_admin(self.socket_dir / "mysqld.sock", self.password, database)

    def connect(self, database: str, *, user: str | None = None, password: str | None = None) -> Any:
        """An autocommit DB-API connection over TCP as the reader (or `user`/`password`)."""
        secret = self.password if password is None else password
        if self.kind == "postgres":
            import psycopg

            return psycopg.connect(
                host=self.host, port=self.port, user=user or self.user, password=secret,
                dbname=database, autocommit=True,
            )
        import pymysql

        return pymysql.connect(
            host=self.host, port=self.port, user=user or self.user, password=secret, database=database,
            autocommit=True, charset="utf8mb4",
        )


@dataclass(frozen=True)
class ServerStatus:
    kind: ServerKind
    state_dir: Path
    initialised: bool  # a data dir exists
    running: bool
    port: int | None
    pid: int | None


def default_state_dir(kind: ServerKind) -> Path:
    from warehouse.storage import project_root

    return project_root() / ".ndc" / "servers" / kind


def binaries_available(kind: ServerKind) -> bool:
    return (postgres_bin() if kind == "postgres" else mariadb_binaries()) is not None


def start(kind: ServerKind, state_dir: Path | None = None, *, durable: bool = True) -> LocalServer:
    """Start the server of `state_dir` (initialising it the first time), or reuse it if running.

    `durable=False` trades crash safety for speed (fsync off): for throw-away test servers only.
    """
    _check_kind(kind)
    # Binaries first: without the package there is no service user either, and the one line to
    # show is what to install (tests turn it into a skip).
    _require_postgres_bin() if kind == "postgres" else _require_mariadb_binaries()
    state = (state_dir or default_state_dir(kind)).resolve()
    password = _password(state)
    current = status(kind, state)
    if current.running and current.port is not None:
        server = LocalServer(kind, state, current.port, password)
    else:
        _prepare_dirs(kind, state)
        port = _port(state)
        if kind == "postgres":
            _start_postgres(state, port, durable)
        else:
            _start_mariadb(state, port, durable)
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
        bindir = _require_postgres_bin()
        _run([str(bindir / "pg_ctl"), "-D", str(state / "data"), "-m", "fast", "-w",
              "-t", str(int(STOP_TIMEOUT_S)), "stop"], _service_user("postgres"), "stopping PostgreSQL")
        return True
    assert current.pid is not None
    os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(current.pid):
        if time.monotonic() > deadline:
            os.kill(current.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    if (child := _CHILDREN.pop(current.pid, None)) is not None:
        child.wait(timeout=STOP_TIMEOUT_S)
    return True


def status(kind: ServerKind, state_dir: Path | None = None) -> ServerStatus:
    _check_kind(kind)
    state = (state_dir or default_state_dir(kind)).resolve()
    data = state / "data"
    port = _saved_port(state)
    if kind == "postgres":
        initialised = (data / "PG_VERSION").exists()
        pid = _pid_from(data / "postmaster.pid") if initialised else None
    else:
        initialised = (data / "mysql").is_dir()
        pid = _pid_from(state / "run" / "mysqld.pid")
    running = pid is not None and _alive(pid) and port is not None and _listening(port)
    return ServerStatus(kind, state, initialised, running, port, pid if running else None)


# ---- binaries ----------------------------------------------------------------------------------

def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def mariadb_binaries() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None)
    installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, installer) if server and installer else None


def _require_postgres_bin() -> Path:
    bindir = postgres_bin()
    if bindir is None:
        raise ServerBinariesMissing(
            "PostgreSQL server binaries are not installed: apt-get install postgresql (initdb, pg_ctl)"
        )
    return bindir


def _require_mariadb_binaries() -> tuple[str, str]:
    binaries = mariadb_binaries()
    if binaries is None:
        raise ServerBinariesMissing(
            "MariaDB server binaries are not installed: apt-get install mariadb-server (mariadbd, mariadb-install-db)"
        )
    return binaries


# ---- PostgreSQL --------------------------------------------------------------------------------

def _start_postgres(state: Path, port: int, durable: bool) -> None:
    bindir = _require_postgres_bin()
    user = _service_user("postgres")
    data, log = state / "data", state / "log" / "server.log"
    if not (data / "PG_VERSION").exists():
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
              "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], user, "initialising PostgreSQL")
    options = f"-p {port} -k {state / 'run'} -c listen_addresses={HOST}" + ("" if durable else " -c fsync=off")
    _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT_S)),
          "start", "-o", options], user, f"starting PostgreSQL (log: {log})")
    _wait_for_port(port, None, log)  # pg_ctl -w has waited already; this only confirms TCP


# ---- MariaDB -----------------------------------------------------------------------------------

def _start_mariadb(state: Path, port: int, durable: bool) -> None:
    server, installer = _require_mariadb_binaries()
    user = _service_user("mariadb")
    name = pwd.getpwuid(user["user"]).pw_name if user else pwd.getpwuid(os.geteuid()).pw_name
    data, run, log = state / "data", state / "run", state / "log" / "server.log"
    if not (data / "mysql").is_dir():
        _run([installer, "--no-defaults", f"--datadir={data}", f"--user={name}",
              "--auth-root-authentication-method=normal", "--skip-test-db"], {}, "initialising MariaDB")
    pid_file = run / "mysqld.pid"
    pid_file.unlink(missing_ok=True)
    tuning = [] if durable else ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]
    # Its own session: the server outlives this process (like pg_ctl start) and a Ctrl-C here.
    command = [server, "--no-defaults", f"--datadir={data}", f"--socket={run / 'mysqld.sock'}",
               f"--port={port}", f"--bind-address={HOST}", "--skip-networking=0", f"--log-error={log}",
               f"--pid-file={pid_file}", f"--user={name}", "--skip-log-bin", "--local-infile=1",
               "--character-set-server=utf8mb4", "--innodb-buffer-pool-size=128M", *tuning]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    _CHILDREN[child.pid] = child  # reaped by stop() if this process is still the parent then
    _wait_for_port(port, child, log)


def _mariadb_admin(sock: Path, password: str, database: str | None) -> Any:
    import pymysql

    try:
        return pymysql.connect(unix_socket=str(sock), user="root", password=password, database=database,
                               autocommit=True, charset="utf8mb4", local_infile=True)
    except pymysql.err.OperationalError as error:
        if error.args and error.args[0] == 1045:
            raise ServerError(
                f"MariaDB refused root with the password in {sock.parent.parent / 'password'}; if that file "
                f"was replaced, stop the server and remove {sock.parent.parent} to start afresh"
            ) from None
        raise


# ---- users -------------------------------------------------------------------------------------

def _ensure_read_user(server: LocalServer) -> None:
    """The `ndc` user with the saved password (and, on MariaDB, root locked to it and the socket)."""
    if server.kind == "postgres":
        from psycopg import sql

        with server.admin_connect() as admin:
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (server.user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            admin.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(server.user), sql.Literal(server.password)))
        return
    marker = server.state_dir / "root-secured"
    if not marker.exists():
        _secure_mariadb_root(server)
        marker.touch()
    with server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (server.user, server.password))
        cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (server.user, server.password))


def _secure_mariadb_root(server: LocalServer) -> None:
    """A fresh install has a password-less root, also over TCP: give it the password, socket only."""
    import pymysql

    try:
        connection = pymysql.connect(unix_socket=str(server.socket_dir / "mysqld.sock"), user="root",
                                     password="", autocommit=True)
    except pymysql.err.OperationalError as error:
        if error.args and error.args[0] == 1045:  # secured already (a start interrupted afterwards)
            return
        raise
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT user, host FROM mysql.user WHERE user IN ('root', '') AND host <> 'localhost'")
        for user, host in cursor.fetchall():
            cursor.execute("DROP USER %s@%s", (user, host))
        cursor.execute("DROP USER IF EXISTS ''@'localhost'")
        cursor.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (server.password,))


# ---- state dir, port, password -----------------------------------------------------------------

def _prepare_dirs(kind: ServerKind, state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    owner = _service_user(kind)
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
    if port is None or _listening(port):
        port = free_port()
        (state / "port").write_text(f"{port}\n")
    return port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# ---- processes ---------------------------------------------------------------------------------

def _service_user(kind: ServerKind) -> dict[str, Any]:
    """subprocess arguments that drop root to the service user; empty when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(_SERVICE_USER[kind])
    except KeyError:
        raise ServerError(f"user '{_SERVICE_USER[kind]}' does not exist (the server package creates it)") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(command: list[str], as_user: dict[str, Any], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **as_user)
    if done.returncode != 0:
        raise ServerError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            raise ServerError(f"the server exited with {process.returncode} while starting: {_tail(log)}")
        if _listening(port):
            return
        time.sleep(0.2)
    raise ServerError(f"the server did not listen on {HOST}:{port} within {START_TIMEOUT_S:.0f}s: {_tail(log)}")


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, PermissionError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped by a non-reaping init) is dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _check_kind(kind: str) -> None:
    if kind not in get_args(ServerKind):
        raise ValueError(f"server kind '{kind}' is not one of {', '.join(get_args(ServerKind))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.servers", description=__doc__.split("\n")[0])
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
