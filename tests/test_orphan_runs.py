"""A killed load leaves half a load behind (issue 11, defect 9): the bronze and quarantine rows it
committed before dying have no load record. They are invisible to `ndc sql`, a re-run does not
make them count twice, and the maintenance step removes them once no load can still be running."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.drops import FILES, load
from tests.test_file_drops import KILLED_LOAD
from warehouse.committed import find_orphans, remove_orphans
from warehouse.sql import run_sql
from warehouse.tables import TableName

pytestmark = pytest.mark.slow  # kills a real load in another process

BRONZE = TableName("bronze", "civil_status", "deaths")


def killed_in_merge(folder: Path, warehouse_dir: Path) -> None:
    """A real load in another process, SIGKILLed once bronze and quarantine are committed."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOAD, str(folder.parent), str(warehouse_dir)],
        env={**os.environ}, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
    )
    try:
        assert child.stdout.readline().strip() == "merging"  # type: ignore[union-attr]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def counted(warehouse, table: TableName) -> int:
    return run_sql(f"SELECT count(*) AS n FROM {table}", warehouse.settings, role="restricted").frame["n"][0]


def test_rows_of_a_killed_load_never_count_and_maintenance_removes_them(deaths_drop, tmp_path):
    folder, ref, warehouse = deaths_drop
    killed_in_merge(folder, tmp_path / "warehouse")
    assert warehouse.read(BRONZE).height == 8 and warehouse.read(FILES).height == 1  # written, then killed
    assert counted(warehouse, BRONZE) == 0 and counted(warehouse, FILES) == 0  # but not data

    report = load(ref, warehouse, 2)

    assert report.extracted == 8 and report.files_quarantined == 1
    assert warehouse.read(BRONZE).height == 16  # the killed run's copy is still stored...
    assert counted(warehouse, BRONZE) == 8 and counted(warehouse, FILES) == 1  # ...and never read
    seen = run_sql(f"SELECT DISTINCT _run_id FROM {BRONZE}", warehouse.settings, role="restricted").frame
    assert seen["_run_id"].to_list() == ["run-2"]

    # A run that may still be loading is never taken for dead; one silent for a day is.
    assert find_orphans(warehouse, BRONZE).run_ids == ()
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, minutes=1)
    for table in (BRONZE, FILES):
        removed = remove_orphans(warehouse, table, now=tomorrow)
        assert removed.run_ids == ("killed",)
    assert warehouse.read(BRONZE).height == 8 and warehouse.read(FILES).height == 1
    assert warehouse.read(BRONZE)["_run_id"].unique().to_list() == ["run-2"]
