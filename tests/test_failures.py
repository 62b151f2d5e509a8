"""A broken source gets one clear error naming it and what to do, and leaves every table as it was."""

import datetime as dt
import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from catalogue import load_catalogue
from connectors import SourceSchemaError
from demo.generator import generate
from pipeline.load import load_table
from pipeline.names import LoadNames
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

TODAY = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("failures") / "demo"
    generate(root, citizens=300, seed=5)
    return root


@pytest.fixture
def loaded(demo_dir, tmp_path, monkeypatch):
    """The population register loaded once into a fresh warehouse."""
    monkeypatch.setenv("NDC_DEMO_DIR", str(demo_dir))
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    ref = load_catalogue().table("population.citizens")
    load_table(ref, warehouse, run_id="good", today=TODAY)
    return ref, warehouse


def versions(warehouse: Warehouse, ref) -> dict[str, int | None]:
    names = LoadNames.of(ref)
    return {str(n): warehouse.version(n) for n in (names.bronze, names.quarantine, names.silver, LOADS)}


def test_a_renamed_source_column_fails_before_any_write(loaded, demo_dir, tmp_path, monkeypatch):
    ref, warehouse = loaded
    before = versions(warehouse, ref)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "population.sqlite").write_bytes((demo_dir / "population.sqlite").read_bytes())
    with sqlite3.connect(broken / "population.sqlite") as db:
        db.execute("ALTER TABLE cong_dan RENAME COLUMN ho_ten TO ho_va_ten")
    monkeypatch.setenv("NDC_DEMO_DIR", str(broken))
    with pytest.raises(SourceSchemaError) as raised:
        load_table(ref, warehouse, run_id="broken", today=TODAY)
    message = str(raised.value)
    assert "source 'population'" in message and "ho_ten" in message and "nothing was written" in message
    assert versions(warehouse, ref) == before


def test_a_missing_source_fails_once_in_dagster_without_retries(loaded, tmp_path, monkeypatch):
    ref, warehouse = loaded
    before = versions(warehouse, ref)
    monkeypatch.setenv("NDC_DEMO_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("NDC_WAREHOUSE_URI", warehouse.settings.warehouse_uri)
    from orchestration.definitions import defs

    job = defs.resolve_job_def("nightly_sync")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[
            dg.AssetKey([layer, "population", "citizens"]) for layer in ("bronze", "quarantine", "silver")
        ],
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    assert "source 'population'" in failures[0].event_specific_data.error.message
    assert "does not exist" in failures[0].event_specific_data.error.message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert versions(warehouse, ref) == before
