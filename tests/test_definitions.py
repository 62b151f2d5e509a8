"""The one Definitions: loads, has an asset set per catalogue table, jobs, schedules, resources."""

import dagster as dg
import pytest

from catalogue import load_catalogue
from orchestration.definitions import defs
from orchestration.resources import resources_for
from pipeline.rules import PIPELINE_RULES
from quality.suites import suite_outline


def suite_rule_ids(suite: str) -> set[str]:
    """The rule ids a suite's JSON declares (read here apart from assets/, so the test checks it)."""
    return {
        expectation.configuration.meta["rule_id"]
        for expectation in suite_outline(suite).expectations
        if "rule_id" in expectation.configuration.meta
    }


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)


def test_every_catalogue_table_has_bronze_quarantine_and_silver_with_checks():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    catalogue = load_catalogue()
    for ref in catalogue.tables:
        for layer in ("bronze", "quarantine", "silver"):
            assert f"{layer}/{ref.domain}/{ref.table.name}" in keys
    assert {"gold/people/citizen_360", "gold/kpi/linkage_by_province"} <= keys
    checks = {(c.asset_key.to_user_string(), c.name) for c in defs.resolve_asset_graph().asset_check_keys}
    for ref in catalogue.tables:
        silver = f"silver/{ref.domain}/{ref.table.name}"
        rules = suite_rule_ids(ref.entity.suite)
        assert rules, f"{ref.key}: its suite {ref.entity.suite} declares no rule"
        # Every rule of the table's suite has its check, on that table's silver asset.
        missing = {rule for rule in {"conservation", *rules} if (silver, rule) not in checks}
        assert not missing, f"{ref.key}: no check on {silver} for {sorted(missing)}"


def test_every_pipeline_rule_has_its_check_on_every_silver_asset_described_where_it_is_raised():
    catalogue = load_catalogue()
    ids = {rule.rule_id for rule in PIPELINE_RULES}
    assert {"superseded", "conflicting_versions", "cmnd_unresolved", "cmnd_ambiguous"} <= ids
    assert {"key_unsafe", "tombstone_without_key"} <= ids
    for ref in catalogue.tables:
        silver = dg.AssetKey(["silver", ref.domain, ref.table.name])
        specs = {spec.name: spec for spec in defs.resolve_assets_def(silver).check_specs}
        for rule in PIPELINE_RULES:
            assert rule.rule_id in specs, f"{ref.key}: no check on {silver.to_user_string()} for {rule.rule_id}"
            assert specs[rule.rule_id].asset_key == silver
            # The description comes from pipeline/rules.py, not from assets/.
            assert rule.description in specs[rule.rule_id].description
            assert not specs[rule.rule_id].blocking


def test_conservation_check_is_blocking_and_loads_use_a_pool_per_source():
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["silver", "population", "citizens"]))
    assert node.pools == {"source_population"}
    specs = {
        spec.name: spec
        for spec in defs.resolve_assets_def(dg.AssetKey(["silver", "population", "citizens"])).check_specs
    }
    assert specs["conservation"].blocking


def test_loads_are_unpartitioned_and_silver_and_gold_expect_the_night_by_six():
    """A load is one unit from the table's high-water mark: no partitions to show as missing."""
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).partitions_def is None, key.to_user_string()
    for path in (["silver", "population", "citizens"], ["silver", "civil_status", "births"], ["gold", "kpi", "linkage_by_province"]):
        policy = graph.get(dg.AssetKey(path)).freshness_policy
        assert policy.deadline_cron == "0 6 * * *" and policy.timezone == "Asia/Ho_Chi_Minh", path
        # A materialisation since the 01:00 schedule counts; one from the afternoon before does not.
        assert policy.lower_bound_delta.total_seconds() == 5 * 3600
    assert graph.get(dg.AssetKey(["bronze", "population", "citizens"])).freshness_policy is None


def test_nightly_schedule_runs_at_one_in_vietnam():
    schedule = defs.resolve_schedule_def("nightly_sync_0100")
    assert schedule.cron_schedule == "0 1 * * *"
    assert schedule.execution_timezone == "Asia/Ho_Chi_Minh"
    assert schedule.job_name == "nightly_sync"
    assert defs.resolve_job_def("warehouse_maintenance") is not None


def test_rule_checks_say_what_their_severity_means():
    specs = {
        spec.name: spec
        for spec in defs.resolve_assets_def(dg.AssetKey(["silver", "population", "citizens"])).check_specs
    }
    assert "ERROR" in specs["conservation"].description
    rules = [spec for name, spec in specs.items() if name != "conservation"]
    assert rules and all("WARN" in spec.description and "not a pipeline failure" in spec.description for spec in rules)
    assert all("no new rows" in spec.description or "newer than the high-water mark" in spec.description for spec in rules)


def test_production_takes_every_setting_from_the_environment():
    resources = resources_for("production")
    warehouse = resources["warehouse"]
    for field in ("warehouse_uri", "s3_endpoint", "aws_access_key_id", "aws_secret_access_key"):
        assert isinstance(getattr(warehouse, field), dg.EnvVar), field
    assert isinstance(resources["pseudonym_key"].key, dg.EnvVar)


def test_unknown_environment_is_refused_with_the_choices():
    with pytest.raises(ValueError) as refused:
        resources_for("staging")
    assert "local" in str(refused.value) and "production" in str(refused.value)
