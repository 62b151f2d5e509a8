"""Maintenance on real Delta tables: local and over SeaweedFS S3, with honest figures."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from warehouse.catalog import table_uris
from warehouse.maintenance import maintain_table
from warehouse.storage import StorageSettings


def _many_small_appends(settings: StorageSettings, uri: str, appends: int) -> None:
    options = settings.delta_storage_options()
    for i in range(appends):
        batch = pa.table({"id": list(range(i * 10, i * 10 + 10)), "tinh": [f"{i % 3:03d}"] * 10})
        write_deltalake(uri, batch, mode="append", storage_options=options)


def _rows(settings: StorageSettings, uri: str) -> list[int]:
    table = DeltaTable(uri, storage_options=settings.delta_storage_options())
    return sorted(table.to_pyarrow_table().column("id").to_pylist())


def test_local_compaction_vacuum_and_figures(tmp_path: Path):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "wh"))
    uri = settings.table_uri("bronze", "population", "cong_dan")
    _many_small_appends(settings, uri, 6)

    result = maintain_table(settings, uri, retention_hours=0)

    assert result.before.live_files == 6
    assert result.files_compacted == 6 and result.files_written == 1
    assert result.after.live_files == 1
    assert result.files_vacuumed == 6  # the six rewritten files, now unreferenced
    # Stored data shrank to the one compacted file plus the log and checkpoint.
    parquet_after = [p for p in Path(uri).glob("*.parquet")]
    assert len(parquet_after) == 1
    assert result.after.live_bytes == parquet_after[0].stat().st_size
    assert result.checkpoint_version is not None
    assert (Path(uri) / "_delta_log" / f"{result.checkpoint_version:020d}.checkpoint.parquet").exists()
    assert _rows(settings, uri) == list(range(60))
    metadata = result.as_metadata()
    assert metadata["live_files_before"] == 6 and metadata["live_files_after"] == 1
    assert metadata["files_vacuumed"] == 6


def test_default_retention_keeps_recent_files(tmp_path: Path):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "wh"))
    uri = settings.table_uri("silver", "population", "citizen")
    _many_small_appends(settings, uri, 3)
    result = maintain_table(settings, uri)  # 7 days: the replaced files are too young to delete
    assert result.files_compacted == 3
    assert result.files_vacuumed == 0
    assert len(list(Path(uri).glob("*.parquet"))) == 4
    assert _rows(settings, uri) == list(range(30))


def test_zorder_only_when_the_table_is_large(tmp_path: Path):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "wh"))
    uri = settings.table_uri("silver", "population", "z")
    _many_small_appends(settings, uri, 3)
    small = maintain_table(settings, uri, zorder_by=["tinh", "id"], vacuum=False)
    assert small.zordered_by == () and small.skipped
    _many_small_appends(settings, uri, 2)
    large = maintain_table(settings, uri, zorder_by=["tinh", "id"], zorder_min_bytes=1, vacuum=False)
    assert large.zordered_by == ("tinh", "id")
    assert large.after.live_files == 1
    strategies = [
        entry["operationMetrics"].get("plannerStrategy")
        for entry in DeltaTable(uri).history()
        if entry["operation"] == "OPTIMIZE"
    ]
    assert strategies[0] == "zOrder" and strategies[1] != "zOrder"  # newest first


@pytest.mark.slow
def test_maintenance_over_s3(seaweedfs):
    uri = seaweedfs.table_uri("bronze", "social_insurance", f"nguoi_{uuid.uuid4().hex[:8]}")
    _many_small_appends(seaweedfs, uri, 5)
    result = maintain_table(seaweedfs, uri, retention_hours=0)
    assert (result.before.live_files, result.after.live_files) == (5, 1)
    assert result.files_vacuumed == 5
    assert (result.before.data_objects, result.after.data_objects) == (5, 1)
    assert result.before.data_bytes == result.before.live_bytes
    assert result.after.data_bytes == result.after.live_bytes
    assert result.after.log_files > result.before.log_files  # optimize, checkpoint, vacuum commits
    assert _rows(seaweedfs, uri) == list(range(50))
    assert uri in [found for _, found in table_uris(seaweedfs, ["bronze"])]
