"""Every catalogue entity has a suite that loads, names its rules, fits the entity's columns and compiles."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from quality.compile import compile_suite
from quality.rules import suite_rules
from quality.suites import GX_DIR, SUITES_DIR, SuiteError, load_suite, suite_names

ENTITIES_DIR = Path(__file__).resolve().parents[1] / "catalogue" / "entities"
ENTITIES = {path.stem: yaml.safe_load(path.read_text()) for path in sorted(ENTITIES_DIR.glob("*.yml"))}


def test_the_catalogue_has_entities():
    assert len(ENTITIES) >= 10


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_entity_suite_loads_compiles_and_fits_the_entity(entity):
    declared = ENTITIES[entity]
    suite = load_suite(declared["suite"])
    compiled = compile_suite(suite, today=dt.date(2026, 1, 1))
    assert compiled.name == declared["suite"]
    assert len(compiled.rules) + len(compiled.not_compiled) == len(suite.expectations) > 0
    columns = {column["name"] for column in declared["columns"]}
    for rule in compiled.rules:
        assert set(rule.columns) <= columns, f"{rule.rule_id} names columns not in entity '{entity}'"
    for key in declared["primary_key"]:
        rules = {(rule.expectation_type, rule.columns, rule.severity) for rule in compiled.rules}
        assert ("expect_column_values_to_not_be_null", (key,), "error") in rules
        assert ("expect_column_values_to_be_unique", (key,), "error") in rules


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_the_compiler_and_the_checks_read_the_same_rule_specs(entity):
    """One registry: the specs assets/ makes checks from are the ones the compiler compiles."""
    name = ENTITIES[entity]["suite"]
    specs = {spec.rule_id: spec for spec in suite_rules(name)}
    compiled = compile_suite(load_suite(name), today=dt.date(2026, 1, 1))
    assert {rule.rule_id for rule in compiled.rules} <= set(specs)
    for rule in compiled.rules:
        spec = specs[rule.rule_id]
        assert (rule.severity, rule.expectation_type, rule.columns, rule.mostly) == (
            spec.severity,
            spec.kind,
            spec.columns,
            spec.mostly,
        )
    assert all(spec.description for spec in specs.values())


def test_every_suite_file_belongs_to_an_entity():
    assert set(suite_names()) == {declared["suite"] for declared in ENTITIES.values()}


def test_rule_book_severities_in_the_citizen_suite():
    severity = {
        rule.rule_id: rule.severity
        for rule in compile_suite(load_suite("citizen"), today=dt.date(2026, 1, 1)).rules
    }
    assert severity["personal_id.well_formed"] == "error"
    assert severity["personal_id.matches_birth"] == "error"
    assert severity["personal_id.province_known"] == "warning"  # may be a foreign-country code
    assert severity["birth_province_legacy.known"] == "error"  # admin_unknown quarantines
    assert severity["date_of_death.not_before_birth"] == "error"
    assert severity["phone_valid.true"] == "warning"  # phone_invalid lands flagged


def test_suites_sit_in_a_committed_file_context():
    assert SUITES_DIR == GX_DIR / "expectations"
    assert (GX_DIR / "great_expectations.yml").is_file()
    assert "uncommitted/" in (GX_DIR / ".gitignore").read_text()


def test_missing_suite_names_the_file(tmp_path):
    with pytest.raises(SuiteError, match=r"nope\.json does not exist"):
        load_suite("nope", suites_dir=tmp_path)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SuiteError, match=r"broken\.json: not valid JSON"):
        load_suite("broken", suites_dir=tmp_path)


def test_invalid_expectation_names_the_file_instead_of_being_dropped(tmp_path):
    document = {
        "name": "bad",
        "expectations": [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "meta": {"rule_id": "a"},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "a"},
                "meta": {"rule_id": "b"},
            },
        ],
    }
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(SuiteError, match=r"bad\.json: expectation #1 \(expect_column_values_to_be_between\)"):
        load_suite("bad", suites_dir=tmp_path)


def test_unknown_expectation_type_names_the_file(tmp_path):
    document = {
        "name": "odd",
        "expectations": [{"type": "expect_magic", "kwargs": {}, "meta": {"rule_id": "m"}}],
    }
    (tmp_path / "odd.json").write_text(json.dumps(document))
    with pytest.raises(SuiteError, match=r"odd\.json: expectation #0 \(expect_magic\)"):
        load_suite("odd", suites_dir=tmp_path)
