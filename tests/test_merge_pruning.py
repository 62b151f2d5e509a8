"""A MERGE touches only the files it must (issue 14): given the key range of its rows, delta-rs
skips silver's files outside it, by their statistics, and rewrites only the ones holding a key."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Tombstones, Warehouse, key_bounds

NAME = TableName("silver", "pruning", "payments")
KEY = "payment_id"


def _rows(first: int, count: int, amount: int = 1, at: str = "2026-11-01 00:00:00") -> pl.DataFrame:
    return pl.DataFrame({
        KEY: [f"P{n:06d}" for n in range(first, first + count)],
        "amount": [amount] * count,
        "updated_at": [dt.datetime.fromisoformat(at)] * count,
        "_deleted": [None] * count,
        "_deleted_at": [None] * count,
        "_run_id": ["first"] * count,
    }, schema_overrides={"_deleted": pl.Boolean, "_deleted_at": pl.Datetime("us")})


def _last_metrics(warehouse: Warehouse) -> dict:
    return warehouse.table(NAME).history(1)[0]["operationMetrics"]


@pytest.fixture
def four_files(tmp_path) -> Warehouse:
    """A silver table of growing keys loaded in four runs: four files, each its own key range."""
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path)))
    for run in range(4):
        warehouse.merge(NAME, _rows(run * 100, 100).to_arrow(), [KEY], f"run-{run}", newer_wins_on="updated_at")
    assert len(warehouse.table(NAME).file_uris()) == 4
    return warehouse


def test_a_merge_of_the_newest_keys_rewrites_only_the_file_that_holds_them(four_files):
    warehouse = four_files
    night = pl.concat([
        _rows(350, 10, amount=2, at="2026-11-02 00:00:00"),  # updates in the last file's range
        _rows(400, 10, amount=3, at="2026-11-02 00:00:00"),  # new keys above every file
    ])
    bounds = key_bounds(night, columns=[KEY])
    assert bounds == {KEY: ("P000350", "P000409")}
    warehouse.merge(NAME, night.to_arrow(), [KEY], "night", newer_wins_on="updated_at", bounds=bounds)
    metrics = _last_metrics(warehouse)
    assert metrics["num_target_files_removed"] == 1  # the file of keys 300-399 only
    assert metrics["num_target_files_skipped_during_scan"] == 3
    assert metrics["num_target_rows_copied"] == 90
    silver = warehouse.read(NAME).sort(KEY)
    assert silver.height == 410
    assert silver.filter(pl.col(KEY).is_between(pl.lit("P000350"), pl.lit("P000359")))["amount"].to_list() == [2] * 10
    assert silver.filter(pl.col(KEY) >= pl.lit("P000400"))["amount"].to_list() == [3] * 10
    assert silver.filter(pl.col(KEY) < pl.lit("P000350"))["amount"].to_list() == [1] * 350


def test_tombstones_widen_the_range_and_reach_their_rows(four_files):
    warehouse = four_files
    gone = pl.DataFrame({KEY: ["P000005"]})
    update = _rows(390, 1, amount=5, at="2026-11-02 00:00:00")
    bounds = key_bounds(update, gone, columns=[KEY])
    assert bounds == {KEY: ("P000005", "P000390")}
    at = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    warehouse.merge(NAME, update.to_arrow(), [KEY], "night", newer_wins_on="updated_at",
                    tombstones=Tombstones(gone, at), bounds=bounds)
    assert _last_metrics(warehouse)["num_target_files_removed"] == 2  # the first and the last
    silver = warehouse.read(NAME)
    assert silver.filter(pl.col("_deleted").fill_null(False))[KEY].to_list() == ["P000005"]
    assert silver.filter(pl.col(KEY) == "P000390")["amount"].item() == 5
    assert silver.height == 400


def test_a_tombstone_commit_of_its_own_skips_the_other_files(four_files):
    warehouse = four_files
    warehouse.tombstone(NAME, pl.DataFrame({KEY: ["P000120", "P000130"]}), [KEY], "night",
                        dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert _last_metrics(warehouse)["num_target_files_removed"] == 1
    assert warehouse.read(NAME).filter(pl.col("_deleted").fill_null(False)).height == 2


def test_a_merge_without_bounds_still_scans_everything(four_files):
    """The old behaviour, kept for a caller that gives none (and for key types with no bounds)."""
    warehouse = four_files
    warehouse.merge(NAME, _rows(350, 1, amount=2, at="2026-11-02 00:00:00").to_arrow(), [KEY], "night",
                    newer_wins_on="updated_at")
    metrics = _last_metrics(warehouse)
    assert metrics["num_target_files_removed"] == 1  # delta-rs rewrites only the touched file,
    assert metrics["num_target_files_skipped_during_scan"] in (0, 4)  # but prunes nothing by range
    assert warehouse.read(NAME).filter(pl.col(KEY) == "P000350")["amount"].item() == 2


def test_key_bounds_cover_strings_and_integers_and_nothing_else():
    frame = pl.DataFrame({"s": ["b", "a", None], "i": [3, 1, 2], "d": [dt.date(2026, 1, 1)] * 3})
    assert key_bounds(frame, columns=["s", "i"]) == {"s": ("a", "b"), "i": (1, 3)}
    assert key_bounds(frame, columns=["d"]) is None  # no exact literal: no range, a full scan
    assert key_bounds(frame.clear(), columns=["s"]) is None
    assert key_bounds(None, columns=["s"]) is None
    assert key_bounds(pl.DataFrame({"s": ["o'k"]}), columns=["s"]) == {"s": ("o'k", "o'k")}


def test_a_composite_key_is_bounded_column_by_column(tmp_path):
    """Each key column gets its own range; a row matches only on every column, so the AND of the
    ranges is still sound (here a date column takes none)."""
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path)))
    name = TableName("silver", "pruning", "composite")
    day = dt.date(2026, 11, 1)

    def rows(region: str, numbers: range, amount: int) -> pl.DataFrame:
        return pl.DataFrame({"region": [region] * len(numbers), "n": list(numbers),
                             "day": [day] * len(numbers), "amount": [amount] * len(numbers)})

    keys = ["region", "n", "day"]
    for region in ("A", "B", "C"):
        warehouse.merge(name, rows(region, range(10), 1).to_arrow(), keys, f"run-{region}")
    night = pl.concat([rows("B", range(5, 7), 2), rows("B", range(10, 11), 3)])
    bounds = key_bounds(night, columns=keys)
    assert bounds == {"region": ("B", "B"), "n": (5, 10)}
    warehouse.merge(name, night.to_arrow(), keys, "night", bounds=bounds)
    assert warehouse.table(name).history(1)[0]["operationMetrics"]["num_target_files_removed"] == 1
    silver = warehouse.read(name).sort(keys)
    assert silver.height == 31
    assert silver.filter(pl.col("amount") > 1).select("region", "n", "amount").rows() == [
        ("B", 5, 2), ("B", 6, 2), ("B", 10, 3)]
