"""A local MariaDB server from the Debian package's binaries (mariadbd, mariadb-install-db).

devservers/databases.py decides where a server lives and which port it takes; this module knows
only how MariaDB is found, initialised, started, and how its root and reader accounts are kept.
`mariadbd` runs in its own session (it outlives this process, like `pg_ctl start`, and a Ctrl-C
here); root gets the generated password and the Unix socket only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
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

SERVICE_USER = "mysql"
CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # servers this process started, reaped by stop


def mariadb_binaries() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None)
    installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, installer) if server and installer else None


def require_mariadb_binaries() -> tuple[str, str]:
    binaries = mariadb_binaries()
    if binaries is None:
        raise ServerBinariesMissing(
            "MariaDB server binaries are not installed: apt-get install mariadb-server (mariadbd, mariadb-install-db)"
        )
    return binaries


def start_mariadb(state: Path, port: int, durable: bool, timeout: float) -> None:
    server, installer = require_mariadb_binaries()
    user = service_user(SERVICE_USER)
    name = pwd.getpwuid(user["user"]).pw_name if user else pwd.getpwuid(os.geteuid()).pw_name
    data, run, log = state / "data", state / "run", state / "log" / "server.log"
    if not (data / "mysql").is_dir():
        run_checked([installer, "--no-defaults", f"--datadir={data}", f"--user={name}",
                     "--auth-root-authentication-method=normal", "--skip-test-db"], {}, "initialising MariaDB")
    pid_file = run / "mysqld.pid"
    pid_file.unlink(missing_ok=True)
    tuning = [] if durable else ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]
    command = [server, "--no-defaults", f"--datadir={data}", f"--socket={run / 'mysqld.sock'}",
               f"--port={port}", f"--bind-address={HOST}", "--skip-networking=0", f"--log-error={log}",
               f"--pid-file={pid_file}", f"--user={name}", "--skip-log-bin", "--local-infile=1",
               "--character-set-server=utf8mb4", "--innodb-buffer-pool-size=128M", *tuning]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    CHILDREN[child.pid] = child  # reaped by stop if this process is still the parent then
    outcome = wait_until(lambda: listening(port), timeout=timeout, interval=0.2, process=child)
    if outcome == "exited":
        CHILDREN.pop(child.pid, None)
        raise ServerError(f"the server exited with {child.returncode} while starting: {tail(log)}")
    if outcome == "timeout":
        raise ServerError(f"the server did not listen on {HOST}:{port} within {timeout:.0f}s: {tail(log)}")


def admin_connect(socket: Path, password: str, database: str | None) -> Any:
    """An autocommit connection as root with the generated password, over the Unix socket."""
    import pymysql  # here, not above: a PostgreSQL-only run never loads the MariaDB driver

    try:
        return pymysql.connect(unix_socket=str(socket), user="root", password=password, database=database,
                               autocommit=True, charset="utf8mb4", local_infile=True)
    except pymysql.err.OperationalError as error:
        if error.args and error.args[0] == 1045:
            raise ServerError(
                f"MariaDB refused root with the password in {socket.parent.parent / 'password'}; if that file "
                f"was replaced, stop the server and remove {socket.parent.parent} to start afresh"
            ) from None
        raise


def connect(host: str, port: int, user: str, password: str, database: str) -> Any:
    """An autocommit connection over TCP with a password."""
    import pymysql

    return pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           autocommit=True, charset="utf8mb4")


def secure_root(socket: Path, password: str) -> None:
    """A fresh install has a password-less root, also over TCP: give it the password, socket only."""
    import pymysql

    try:
        connection = pymysql.connect(unix_socket=str(socket), user="root", password="", autocommit=True)
    except pymysql.err.OperationalError as error:
        if error.args and error.args[0] == 1045:  # secured already (a start interrupted afterwards)
            return
        raise
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT user, host FROM mysql.user WHERE user IN ('root', '') AND host <> 'localhost'")
        for user, host in cursor.fetchall():
            cursor.execute("DROP USER %s@%s", (user, host))
        cursor.execute("DROP USER IF EXISTS ''@'localhost'")
        cursor.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (password,))


def ensure_read_user(admin: Any, user: str, password: str) -> None:
    """The account `user`@'%' with `password` (created, or its password reset)."""
    with admin, admin.cursor() as cursor:
        cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
        cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
