"""The demo on real servers: the same catalogue drives the embedded SQLite files, PostgreSQL and
MariaDB, and nightly_sync lands the same silver rows from each (real servers, no mocks)."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
import pytest

from catalogue import load_catalogue
from connectors import ExtractRequest, open_connector
from demo.backends import SOURCES, copy_text, load_demo_into, sqlite_tables, url_variable
from demo.generator import generate
from devservers import databases
from orchestration.runs import full_refresh_config
from pipeline.names import LoadNames
from tests.fixtures.environment import environment
from tests.fixtures.servers import DatabaseServer
from warehouse.committed import LOADS
from warehouse.tables import Warehouse

pytestmark = pytest.mark.slow

CITIZENS = 600
BACKENDS = ("postgres", "mariadb")
URL_VARIABLES = tuple(url_variable(source) for source in SOURCES)



@dataclass(frozen=True)
class SyncRun:
    success: bool
    loads: pl.DataFrame  # ops.pipeline.loads rows of this run
    silver: dict[str, int]  # table key -> silver rows


def run_nightly_sync(demo_dir: Path, warehouse_dir: Path, urls: Mapping[str, str]) -> SyncRun:
    """nightly_sync in-process, as tests/test_nightly_sync.py runs it, with the sources at `urls`
    (those not given fall back to the SQLite files in `demo_dir`)."""
    env = {
        "NDC_DEMO_DIR": str(demo_dir),
        "NDC_WAREHOUSE_URI": str(warehouse_dir),
        "NDC_TODAY": "2026-11-01",  # the generator's run date
        "NDC_PSEUDONYM_KEY": "test-key-of-the-nightly-sync-tests-0123456789",
        **{name: urls.get(name) for name in URL_VARIABLES},
    }
    with environment(env):
        from orchestration.definitions import defs

        result = defs.resolve_job_def("nightly_sync").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            run_config=full_refresh_config(),
        )
        warehouse = Warehouse.from_env()
        loads = (
            warehouse.read(LOADS).filter(pl.col("_run_id") == result.run_id)
            if result.success
            else pl.DataFrame()
        )
        silver = (
            {ref.key: warehouse.read(LoadNames.of(ref).silver).height for ref in load_catalogue().tables}
            if result.success
            else {}
        )
    return SyncRun(result.success, loads, silver)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backends")
    generate(root / "demo", citizens=CITIZENS, seed=23)
    return root


@pytest.fixture(scope="module")
def embedded_run(demo: Path) -> SyncRun:
    run = run_nightly_sync(demo / "demo", demo / "warehouse-embedded", {})
    assert run.success
    return run


def server_demo_dir(root: Path, backend: str) -> Path:
    """A demo dir holding only the CSV drops: a run that fell back to SQLite would fail here."""
    served = root / f"demo-{backend}"
    served.mkdir(exist_ok=True)
    link = served / "civil_status"
    if not link.exists():
        link.symlink_to(root / "demo" / "civil_status", target_is_directory=True)
    return served


@pytest.mark.parametrize("backend", BACKENDS)
def test_nightly_sync_on_a_server_lands_what_the_embedded_default_lands(
    backend: str, demo: Path, embedded_run: SyncRun, request: pytest.FixtureRequest
) -> None:
    server: DatabaseServer = request.getfixturevalue(f"{backend}_server")
    assert server.local is not None
    urls = load_demo_into(backend, demo / "demo", server.local)  # type: ignore[arg-type]
    scheme = "postgresql://" if backend == "postgres" else "mariadb://"
    assert set(urls) == set(URL_VARIABLES) and all(url.startswith(scheme) for url in urls.values())

    run = run_nightly_sync(server_demo_dir(demo, backend), demo / f"warehouse-{backend}", urls)

    assert run.success
    assert run.loads.height == 10
    assert run.loads["balanced"].all()
    assert (
        run.loads["extracted"] == run.loads["landed"] + run.loads["quarantined"] + run.loads["deduplicated"]
    ).all()
    assert (run.loads["quarantined"] > 0).any()
    assert run.silver == embedded_run.silver
    assert sum(run.silver.values()) > CITIZENS
    per_table = ["source", "table", "extracted", "landed", "quarantined", "deduplicated"]
    assert (
        run.loads.select(per_table)
        .sort("source", "table")
        .equals(embedded_run.loads.select(per_table).sort("source", "table"))
    )


# ---- the copy itself: values that need escaping, types, the reader's rights --------------------

AWKWARD = [
    "tab\there",
    "new\nline",
    "cr\rhere",
    "back\\slash",
    "\\N",
    "",
    None,
    "Nguyễn Thị Hoà",
    "Hoa\u0300 NFD",
    "quote ' \" `",
    "x" * 5_000,
]


def awkward_demo(folder: Path) -> Path:
    """Four SQLite files shaped like the demo's, one with values that need escaping."""
    folder.mkdir()
    for source in SOURCES:
        with sqlite3.connect(folder / f"{source}.sqlite") as connection:
            connection.execute("CREATE TABLE kho (ma INTEGER, gia_tri TEXT, so REAL, ngay_cap_nhat TEXT)")
            connection.executemany(
                "INSERT INTO kho VALUES (?, ?, ?, ?)",
                [
                    (i, value, i / 4 if i % 3 else None, f"2026-01-{i + 1:02d} 00:00:00")
                    for i, value in enumerate(AWKWARD)
                ]
                + [(None, "no key", 1.5, None)],
            )
    return folder


@pytest.mark.parametrize("backend", BACKENDS)
def test_awkward_values_and_types_survive_the_copy_and_the_reader_only_reads(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server: DatabaseServer = request.getfixturevalue(f"{backend}_server")
    assert server.local is not None
    folder = awkward_demo(tmp_path / "awkward")
    urls = load_demo_into(backend, folder, server.local)  # type: ignore[arg-type]
    for source in SOURCES:
        read = pa.Table.from_batches(
            list(
                open_connector(source, "sql", {"url": urls[url_variable(source)]}).extract(
                    ExtractRequest(source=source, table="kho")
                )
            )
        )
        expected = pa.Table.from_batches(
            list(
                open_connector(source, "sql", {"path": str(folder / f"{source}.sqlite")}).extract(
                    ExtractRequest(source=source, table="kho")
                )
            )
        )
        assert read.schema.field("ma").type == pa.int64()
        assert read.schema.field("so").type == pa.float64()
        assert read.sort_by("ngay_cap_nhat").to_pylist() == expected.sort_by("ngay_cap_nhat").to_pylist()
    assert awkward_rows_via_index(server, backend) == 3  # the watermark window is served (indexed)
    reader = server.local.connect("population")
    with reader, pytest.raises(Exception, match=r"(?i)denied|privilege"):
        reader.cursor().execute("DELETE FROM kho")


def awkward_rows_via_index(server: DatabaseServer, backend: str) -> int:
    assert server.local is not None
    with server.local.admin_connect("population") as admin:
        cursor = admin.cursor()
        if backend == "postgres":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'kho'")
        else:
            cursor.execute("SHOW INDEX FROM kho")
        assert any("ngay_cap_nhat" in str(row) for row in cursor.fetchall())
        cursor.execute("SELECT count(*) FROM kho WHERE ngay_cap_nhat >= '2026-01-09'")
        return int(cursor.fetchone()[0])


def test_copy_text_escapes_in_the_servers_shared_text_format() -> None:
    batch = pa.record_batch({"t": ["a\tb", "c\nd\r", "e\\f", None, ""], "n": [1, None, 3, 4, 5]})
    assert copy_text(batch) == b"a\\tb\t1\nc\\nd\\r\t\\N\ne\\\\f\t3\n\\N\t4\n\t5\n"


def test_every_sql_source_of_the_catalogue_reads_its_url_variable() -> None:
    sources = load_catalogue().sources
    for source in SOURCES:
        connection = sources[source].connection
        assert connection.kind == "sql"
        assert connection.settings["url"] == f"${{{url_variable(source)}:-}}"
        assert connection.settings["path"].endswith(f"/{source}.sqlite")


def test_sqlite_tables_reads_declared_types(tmp_path: Path) -> None:
    folder = awkward_demo(tmp_path / "awkward")
    [table] = sqlite_tables(folder / "population.sqlite")
    assert table.columns == (
        ("ma", "BIGINT"),
        ("gia_tri", "TEXT"),
        ("so", "DOUBLE"),
        ("ngay_cap_nhat", "TEXT"),
    )


# ---- the server's life: password, port and data across restarts -------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_server_keeps_port_password_and_data_across_restarts(kind: databases.ServerKind) -> None:
    if not databases.binaries_available(kind):
        pytest.skip(f"{kind} binaries are not installed")
    import tempfile

    state = Path(tempfile.mkdtemp(prefix=f"ndc-life-{kind[:2]}-"))  # short: Unix socket paths are limited
    try:
        first = databases.start(kind, state, durable=False)
        assert stat.S_IMODE((state / "password").stat().st_mode) == 0o600
        assert first.password == (state / "password").read_text().strip() and len(first.password) >= 24
        assert first.password not in repr(first)
        with first.admin_connect() as admin:
            admin.cursor().execute("CREATE DATABASE giu_lai")
        assert databases.start(kind, state, durable=False).port == first.port  # reused while running
        assert databases.stop(kind, state)
        down = databases.status(kind, state)
        assert not down.running and down.initialised and not databases.stop(kind, state)
        again = databases.start(kind, state, durable=False)
        assert (again.port, again.password) == (first.port, first.password)
        with again.admin_connect() as admin:
            cursor = admin.cursor()
            cursor.execute("SELECT datname FROM pg_database" if kind == "postgres" else "SHOW DATABASES")
            assert "giu_lai" in {row[0] for row in cursor.fetchall()}
        with again.connect("giu_lai" if kind == "postgres" else "information_schema"):
            pass  # the reader logs in over TCP with the saved password
    finally:
        databases.stop(kind, state)
        import shutil

        shutil.rmtree(state, ignore_errors=True)
