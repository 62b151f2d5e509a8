"""The Dagster maintenance job and schedule, run in process on local Delta tables."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from assets.maintenance import maintenance_definitions
from assets.resources import WarehouseResource
from orchestration.resources import resources_for
from warehouse.storage import StorageSettings


def with_warehouse(defs: dg.Definitions, warehouse: WarehouseResource) -> dg.Definitions:
    return dg.Definitions.merge(defs, dg.Definitions(resources={"warehouse": warehouse}))


def test_weekly_schedule_sunday_three_in_vietnam():
    defs = with_warehouse(maintenance_definitions(lambda _settings: []), WarehouseResource())
    schedule = defs.resolve_schedule_def("warehouse_maintenance_weekly")
    assert schedule.cron_schedule == "0 3 * * 0"
    assert schedule.execution_timezone == "Asia/Ho_Chi_Minh"
    assert schedule.job_name == "warehouse_maintenance"


def test_secrets_are_env_vars_not_values(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-bake-me")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    for env in ("local", "production"):
        resource = resources_for(env)["warehouse"]
        assert isinstance(resource.aws_secret_access_key, dg.EnvVar)
        assert "do-not-bake-me" not in repr(resource)


def test_job_compacts_every_table_and_reports_figures(tmp_path: Path):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "wh"))
    tables = []
    for name in ("bronze.population.cong_dan", "silver.population.citizen"):
        layer, domain, table = name.split(".")
        uri = settings.table_uri(layer, domain, table)  # type: ignore[arg-type]
        for i in range(4):
            write_deltalake(uri, pa.table({"id": [i]}), mode="append")
        tables.append((name, uri))

    defs = with_warehouse(
        maintenance_definitions(lambda _settings: tables, zorder_by={"silver.population.citizen": ["id"]}),
        WarehouseResource(warehouse_uri=settings.warehouse_uri),
    )
    job = defs.resolve_job_def("warehouse_maintenance")
    result = job.execute_in_process(
        run_config={
            "ops": {"maintain_delta_tables": {"config": {"retention_hours": 0, "zorder_min_bytes": 1}}}
        },
    )
    assert result.success
    for _, uri in tables:
        assert len(DeltaTable(uri).file_uris()) == 1
        assert len(list(Path(uri).glob("*.parquet"))) == 1  # vacuumed
    observations = [
        event.asset_observation_data.asset_observation
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    ]
    by_key = {obs.asset_key.to_user_string(): obs.metadata for obs in observations}
    assert set(by_key) == {"bronze/population/cong_dan", "silver/population/citizen"}
    assert by_key["bronze/population/cong_dan"]["live_files_before"].value == 4
    assert by_key["bronze/population/cong_dan"]["live_files_after"].value == 1
    assert by_key["silver/population/citizen"]["zordered_by"].value == "id"
    output = result.output_for_node("maintain_delta_tables")
    assert output == 2
