"""Fixtures shared by several test modules: real servers for the session, and two source tables.

Servers start only when a test asks for them and are stopped when the session ends:
`postgres_server` / `mariadb_server` (tests/fixtures/servers.py; they skip, with the package to
install, where the server's binaries are absent), `seaweedfs_server` (a real S3) and `seaweedfs`
(StorageSettings on two fresh buckets of it: raw zones and gold). The per-test tables:
`payments_source` (welfare payments on PostgreSQL, tests/fixtures/welfare.py) and `deaths_drop`
(civil-status deaths as dropped CSV files, tests/fixtures/drops.py); and `catalogue_copy`, a
private copy of the catalogue YAML to break.
"""

from __future__ import annotations

import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from catalogue import CATALOGUE_DIR
from catalogue.loader import TableRef
from devservers.seaweedfs import SeaweedServer, generate_credentials
from tests.fixtures import drops, welfare
from tests.fixtures.servers import DatabaseServer, run_mariadb, run_postgres
from warehouse.s3 import ensure_buckets
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse


def pytest_configure(config: pytest.Config) -> None:
    # A test run started as a background job of a script (`pytest &`, no job control) inherits
    # SIGINT ignored, and so would every process its tests start: the ctrl-C tests (test_faults.py)
    # would then stop nothing. Python's own default, as a terminal gives it; children started
    # from here see SIGINT again (a handled signal is reset on exec, an ignored one is not).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    with run_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DatabaseServer]:
    with run_mariadb() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    # Unix socket paths are limited to ~100 bytes: keep the state dir short.
    state_dir: Path = tmp_path_factory.mktemp("sw")
    access_key, secret_key = generate_credentials()
    server = SeaweedServer.prepare(state_dir, access_key=access_key, secret_key=secret_key)
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()
        assert server.running_pid() is None


@pytest.fixture(scope="session")
def seaweedfs(seaweedfs_server: SeaweedServer) -> StorageSettings:
    suffix = uuid.uuid4().hex[:8]
    settings = seaweedfs_server.settings(f"ndc-raw-{suffix}", f"ndc-gold-{suffix}")
    ensure_buckets(settings)
    return settings


@pytest.fixture
def payments_source(
    postgres_server: DatabaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[DatabaseServer, str, TableRef, Warehouse]:
    """(server, source table name, catalogue table, warehouse): 200 payments, none loaded yet."""
    return welfare.payments_source(postgres_server, tmp_path, monkeypatch)


@pytest.fixture
def deaths_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, TableRef, Warehouse]:
    """(drop folder, catalogue table, warehouse): three monthly files, the middle one malformed."""
    return drops.deaths_drop(tmp_path, monkeypatch)


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the catalogue, with a suite file for every entity so only YAML is under test."""
    root = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR / "entities", root / "entities")
    shutil.copytree(CATALOGUE_DIR / "sources", root / "sources")
    suites = tmp_path / "suites"
    suites.mkdir()
    for path in (root / "entities").glob("*.yml"):
        (suites / f"{yaml.safe_load(path.read_text())['suite']}.json").write_text("{}")
    return root, suites
