"""The whole nightly_sync job, in-process on a small demo: conservation, truth, idempotency, gold."""

import datetime as dt
import os
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from catalogue import load_catalogue
from demo.generator import generate
from demo.score import score
from orchestration.runs import full_refresh_config, latest_partition_tags
from pipeline.load import LOADS, LoadNames
from warehouse.tables import Warehouse

pytestmark = pytest.mark.slow  # runs the whole job on a demo

CITIZENS = 1_500


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly")
    env = {
        "NDC_DEMO_DIR": str(root / "demo"),
        "NDC_WAREHOUSE_URI": str(root / "warehouse"),
        "NDC_TODAY": "2026-11-01",  # the generator's run date: "future" means after it
        "NDC_PSEUDONYM_KEY": "test-key-of-the-nightly-sync-tests-0123456789",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    generate(Path(env["NDC_DEMO_DIR"]), citizens=CITIZENS, seed=11)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run_nightly_sync() -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    # As `ndc demo` does: the latest day's partition, every load reading its whole source.
    return defs.resolve_job_def("nightly_sync").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config=full_refresh_config(),
        tags=latest_partition_tags(),
    )


@pytest.fixture(scope="module")
def first_run(demo_env):
    result = run_nightly_sync()
    assert result.success
    return result


def silver_counts(warehouse: Warehouse) -> dict[str, int]:
    return {ref.key: warehouse.read(LoadNames.of(ref).silver).height for ref in load_catalogue().tables}


def test_every_load_balances_and_is_recorded(first_run):
    loads = Warehouse.from_env().read(LOADS).filter(pl.col("_run_id") == first_run.run_id)
    assert loads.height == 10
    assert (loads["extracted"] == loads["landed"] + loads["quarantined"] + loads["deduplicated"]).all()
    assert loads["balanced"].all()
    assert (loads["quarantined"] > 0).any() and (loads["deduplicated"] > 0).any()


def test_conservation_checks_pass_and_rule_checks_ran(first_run):
    evaluations = [
        e.event_specific_data for e in first_run.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    conservation = [e for e in evaluations if e.check_name == "conservation"]
    assert len(conservation) == 10 and all(e.passed for e in conservation)
    assert len(evaluations) > 50  # one per suite rule and table as well


def test_known_bad_rows_are_quarantined_and_clean_rows_land(first_run):
    scores = score(load_catalogue(), Warehouse.from_env(), Path(os.environ["NDC_DEMO_DIR"]))
    assert len(scores) == 10
    should = sum(s.should_quarantine for s in scores)
    caught = sum(s.true_positives for s in scores)
    flagged = sum(s.quarantined for s in scores)
    assert should > 50
    # The targets: recall >= 99.5%, precision >= 99.9%, >= 99% of linkable linked, no wrong link.
    assert caught / should >= 0.995
    assert caught / flagged >= 0.999
    assert sum(s.linked_wrong for s in scores) == 0
    linkable = sum(s.linkable for s in scores)
    assert sum(s.linked_right for s in scores) / linkable >= 0.99


def test_normalised_values_equal_the_truth_and_split_wards_are_flagged(first_run):
    scores = score(load_catalogue(), Warehouse.from_env(), Path(os.environ["NDC_DEMO_DIR"]))
    accuracy = {(s.table, column): share for s in scores for column, share in s.value_accuracy.items()}
    assert ("population.citizens", "residence_ward_2025") in accuracy and len(accuracy) > 20
    assert {key: share for key, share in accuracy.items() if share < 1} == {}
    split = sum(s.split_wards for s in scores)
    assert split > 0 and sum(s.split_wards_flagged for s in scores) == split


def test_quarantine_keeps_original_values_and_rule_names(first_run):
    warehouse = Warehouse.from_env()
    quarantine = warehouse.read(LoadNames.of(load_catalogue().table("population.citizens")).quarantine)
    assert {"so_dinh_danh", "ho_ten", "ngay_sinh", "_rules", "_run_id"} <= set(quarantine.columns)
    assert quarantine["_rules"].list.len().min() >= 1
    rules = set(quarantine["_rules"].explode().to_list())
    assert "superseded" in rules
    assert any("personal_id" in r for r in rules)


def test_gold_is_pseudonymous(first_run):
    warehouse = Warehouse.from_env()
    people = warehouse.read(warehouse_name("gold.people.citizen_360"))
    citizens = warehouse.read(LoadNames.of(load_catalogue().table("population.citizens")).silver)
    assert people.height == citizens.height
    assert people["person_pseudonym"].str.contains(r"^[0-9a-f]{64}$").all()
    raw_ids = set(citizens["personal_id"].to_list())
    for column in people.columns:
        values = people[column].cast(pl.String).drop_nulls().to_list()
        assert not raw_ids.intersection(values), f"gold column {column} carries personal IDs"
    assert not any(re.fullmatch(r"personal_id|full_name|phone", c) for c in people.columns)


def test_rerun_leaves_silver_unchanged(first_run):
    warehouse = Warehouse.from_env()
    before = silver_counts(warehouse)
    second = run_nightly_sync()
    assert second.success
    assert silver_counts(warehouse) == before


def warehouse_name(dotted: str):
    from warehouse.tables import TableName

    return TableName.parse(dotted)


def test_a_backfill_of_days_is_one_run_and_idempotent(first_run):
    from assets.partitions import range_tags
    from orchestration.definitions import defs

    warehouse = Warehouse.from_env()
    before = silver_counts(warehouse)
    result = defs.resolve_job_def("nightly_sync").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags=range_tags("2026-10-01", "2026-10-31")
    )
    assert result.success
    days = {
        e.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.asset_key.path == ["silver", "population", "citizens"]
    }
    assert len(days) == 31 and min(days) == "2026-10-01"
    loads = warehouse.read(LOADS).filter(pl.col("_run_id") == result.run_id)
    citizens = loads.filter(pl.col("table") == "citizens").row(0, named=True)
    # Only October's rows (and the look-back before it) were read, not the whole register.
    assert 0 < citizens["extracted"] < 102_000 * CITIZENS / 100_000
    lookback = load_catalogue().table("population.citizens").table.lookback
    window_start = (dt.datetime(2026, 10, 1) - lookback).strftime("%Y-%m-%d")
    assert citizens["watermark_from"] >= window_start and citizens["watermark_to"] < "2026-11-01"
    assert loads["balanced"].all()
    assert silver_counts(warehouse) == before
