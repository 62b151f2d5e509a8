"""`ndc storage up|status|down|check` with a real SeaweedFS in a temporary state dir."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from devservers.process import free_loopback_ports, pid_alive
from devservers.seaweedfs import SeaweedServer
from orchestration.storage_cli import storage
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings

pytestmark = pytest.mark.slow


def _exports(output: str) -> dict[str, str]:
    return dict(re.findall(r"export (\w+)=(\S+)", output))


def test_up_status_down_and_data_survives_a_restart(tmp_path: Path, monkeypatch):
    state = tmp_path / "sw"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "NDC_WAREHOUSE_URI", "NDC_GOLD_URI"):
        monkeypatch.delenv(name, raising=False)
    (s3_port,) = free_loopback_ports(1)
    runner = CliRunner()
    args = ["--state-dir", str(state)]
    try:
        first = runner.invoke(storage, ["up", *args, "--s3-port", str(s3_port)])
        assert first.exit_code == 0, first.output
        exports = _exports(first.output)
        assert exports["NDC_S3_ENDPOINT"] == f"http://127.0.0.1:{s3_port}"
        assert exports["NDC_WAREHOUSE_URI"] == "s3://ndc-warehouse"
        settings = StorageSettings.from_env(exports)
        # The generated secret is kept private on disk.
        assert (state / "identities.json").stat().st_mode & 0o077 == 0

        assert runner.invoke(storage, ["status", *args]).exit_code == 0
        ObjectStore.of(settings).write_bytes("s3://ndc-warehouse/ops/marker.txt", b"kept")

        monkeypatch.setattr(os, "environ", {**os.environ, **exports})
        checked = runner.invoke(storage, ["check"])
        assert checked.exit_code == 0 and "ok:" in checked.output, checked.output

        pid = SeaweedServer.load(state).running_pid()
        assert runner.invoke(storage, ["down", *args]).exit_code == 0
        # Gone, or a zombie waiting for a parent that is not ours to reap (PID 1 in some sandboxes).
        assert pid is not None and not pid_alive(pid)
        assert runner.invoke(storage, ["status", *args]).exit_code == 1

        # Same credentials from the environment now; same ports and data after a restart.
        again = runner.invoke(storage, ["up", *args])
        assert again.exit_code == 0, again.output
        assert "AWS_SECRET_ACCESS_KEY=" not in again.output
        assert [o.uri for o in ObjectStore.of(settings).list("s3://ndc-warehouse/ops")] == [
            "s3://ndc-warehouse/ops/marker.txt"
        ]
    finally:
        server = SeaweedServer.load(state)
        if server is not None:
            server.stop()
        assert server is None or server.running_pid() is None


def test_check_fails_with_one_clear_sentence(monkeypatch):
    (port,) = free_loopback_ports(1)
    monkeypatch.setenv("NDC_WAREHOUSE_URI", "s3://nowhere")
    monkeypatch.setenv("NDC_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    result = CliRunner().invoke(storage, ["check"])
    assert result.exit_code == 1
    assert "cannot reach the S3 endpoint" in result.output


def test_check_on_a_local_warehouse(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NDC_WAREHOUSE_URI", str(tmp_path))
    result = CliRunner().invoke(storage, ["check"])
    assert result.exit_code == 0 and "local warehouse" in result.output
