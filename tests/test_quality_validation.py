"""A load's validation result as plain data (quality/validation.py): GE's own JSON, built without GE.

The document a load stores is what `ndc docs serve` renders Data Docs from, so it must be exactly
what GE's result would serialise to, and GE must take it back.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from quality.compile import compile_suite
from quality.docs import result_from_document
from quality.suites import load_suite, suite_names, suite_outline
from quality.validation import expectation_success, validation_document, validation_page

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


@pytest.mark.parametrize("name", suite_names())
def test_the_suites_json_gives_what_ges_suite_gives_and_ge_reads_it_back(name):
    outline = suite_outline(name)
    compiled = compile_suite(outline, today=dt.date(2026, 1, 1))  # type: ignore[arg-type]
    counts = {rule.rule_id: position for position, rule in enumerate(compiled.rules)}
    document = validation_document(compiled, outline, counts, 100, "run-1", run_time=WHEN)

    assert document == validation_document(compiled, load_suite(name), counts, 100, "run-1", run_time=WHEN)
    assert json.loads(json.dumps(document)) == document
    rebuilt = result_from_document(document)
    assert rebuilt.to_json_dict() == document
    assert rebuilt.meta["run_id"].run_name == "run-1" and rebuilt.batch_id == "run-1"
    assert [r.expectation_config.meta["rule_id"] for r in rebuilt.results] == [r.rule_id for r in compiled.rules]


def test_the_document_carries_counts_severity_and_statistics():
    outline = suite_outline("welfare_payment")
    compiled = compile_suite(outline, today=dt.date(2026, 1, 1))  # type: ignore[arg-type]
    broken = compiled.rules[0].rule_id
    document = validation_document(compiled, outline, {broken: 2}, 8, "run-2", run_time=WHEN)
    first = document["results"][0]
    assert first["result"]["unexpected_count"] == 2 and first["result"]["unexpected_percent"] == 25.0
    assert first["meta"] == {"rule_id": broken, "severity": compiled.rules[0].severity, "engine": "polars"}
    assert first["success"] is False and document["success"] is False
    assert document["statistics"]["evaluated_expectations"] == len(compiled.rules)
    assert document["statistics"]["unsuccessful_expectations"] == 1
    assert document["meta"]["batch_spec"]["data_asset_name"] == "welfare_payment"
    assert document["meta"]["run_id"] == {"run_name": "run-2", "run_time": WHEN.isoformat()}
    assert document["meta"]["great_expectations_version"].count(".") >= 1


def test_mostly_is_the_share_of_expected_rows_among_all():
    assert expectation_success(0, 0, 1.0)
    assert not expectation_success(1, 100, 1.0)
    assert expectation_success(30, 100, 0.7) and not expectation_success(31, 100, 0.7)


def test_page_path_is_ges_and_an_empty_load_links_its_index():
    outline = suite_outline("welfare_payment")
    compiled = compile_suite(outline, today=dt.date(2026, 1, 1))  # type: ignore[arg-type]
    document = validation_document(compiled, outline, {}, 3, "run-3", run_time=WHEN)
    assert validation_page(document) == "validations/welfare_payment/run-3/20260102T030405.678901Z/run-3.html"
    assert validation_page(None) == "index.html"
