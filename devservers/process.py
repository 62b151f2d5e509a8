"""Process and port helpers shared by the local development servers (databases and SeaweedFS).

Every server here is a child process in its own session bound to 127.0.0.1 on a port we choose,
so the same few questions recur: is this pid alive (a zombie is not), which ports are free, is
something listening, has the server become ready or exited first, and what did its log say.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A local server could not be started, reached or stopped; the message says why and what to do."""


class ServerBinariesMissing(ServerError):
    """The server's Debian package is not installed (tests skip on this, nothing else)."""


# ---- processes ---------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped by a non-reaping init) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user (the service user)
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        # Gone since kill() answered, or a system without /proc (macOS), where kill() is all we have.
        return not Path("/proc").is_dir()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def pid_from(path: Path) -> int | None:
    """The pid written first in a pid file; None when the file is absent, unreadable or not a pid."""
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, PermissionError, ValueError, IndexError):
        return None


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `pid` to end (reaping it if it is ours); True once gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            _reap(pid)  # it may have turned into a zombie just after the first reap
            return True
        time.sleep(0.05)
    return False


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL when the process is still there after `timeout` seconds."""
    os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 5.0)


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    interval: float,
    process: subprocess.Popen[bytes] | None = None,
) -> Literal["ready", "exited", "timeout"]:
    """Poll `ready` until it holds, `process` (when given) exits first, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return "exited"
        if ready():
            return "ready"
        time.sleep(interval)
    return "timeout"


def tail(log: Path, lines: int = 20, chars: int = 2000) -> str:
    """The end of a server's log for an error message: its last lines, at most `chars` characters."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])[-chars:]


# ---- running as the service user ---------------------------------------------------------------

def service_user(name: str) -> dict[str, Any]:
    """subprocess arguments that drop root to the service user `name`; empty when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ServerError(f"user '{name}' does not exist (the server package creates it)") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def run_checked(command: list[str], as_user: dict[str, Any], what: str) -> None:
    """Run a server's admin command; a failure is a ServerError quoting its output."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **as_user)
    if done.returncode != 0:
        raise ServerError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


# ---- ports -------------------------------------------------------------------------------------

def free_loopback_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """One port free on 127.0.0.1 right now."""
    return free_loopback_ports(1)[0]


def port_is_free(port: int) -> bool:
    """Nothing holds `port` on 127.0.0.1 (a port in TIME_WAIT counts as free, as for the servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def listening(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:`port`."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False
