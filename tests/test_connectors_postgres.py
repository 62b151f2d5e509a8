"""The SQL connector against a real PostgreSQL server (started by tests/fixtures/servers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from connectors import ExtractRequest, open_connector
from connectors.errors import SourceTimeout
from tests.fixtures.servers import DatabaseServer
from tests.test_connectors_sql import SqlServerCases

pytestmark = pytest.mark.slow


class TestPostgres(SqlServerCases):
    kind = "postgres"

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, postgres_server: DatabaseServer) -> DatabaseServer:
        return postgres_server


def _server_processes(server: DatabaseServer) -> list[int]:
    assert server.local is not None
    postmaster = int((server.local.state_dir / "data" / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False)
    return [postmaster, *(int(pid) for pid in children.stdout.split())]


def _freeze_when_running(server: DatabaseServer, marker: str, frozen: list[int]) -> None:
    """SIGSTOP every server process as soon as a query holding `marker` runs (connectorx wraps the
    query, so it is found by a fragment); its backend then never answers."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        running = server.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
        )
        if running[0][0]:
            frozen.extend(_server_processes(server))
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            return
        time.sleep(0.05)


def test_a_frozen_server_fails_the_read_as_a_timeout_and_thaws_unharmed(postgres_server: DatabaseServer) -> None:
    """SIGSTOP every server process mid-query: the reply never comes, the read gives up after the
    stall limit (a retryable timeout, no password), and the server answers again once thawed."""
    query = "SELECT 1 AS x FROM pg_sleep(1.01)"
    connector = open_connector("bo_cong_an", "sql", {"url": postgres_server.url, "stall_timeout_s": 6})
    request = ExtractRequest(source="bo_cong_an", query=query)
    assert sum(batch.num_rows for batch in connector.extract(request)) == 1  # unfrozen: well within the limit

    frozen: list[int] = []
    freezer = threading.Thread(target=_freeze_when_running, args=(postgres_server, "pg_sleep(1.01)", frozen))
    freezer.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceTimeout, match="no data from the source for 6 s") as caught:
            list(connector.extract(request))
        assert time.monotonic() - started < 20
    finally:
        freezer.join()
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert frozen, "the query was never seen running"
    assert caught.value.retryable and postgres_server.password not in str(caught.value)
    assert postgres_server.execute("SELECT 1") == [(1,)]
