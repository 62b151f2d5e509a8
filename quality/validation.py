"""A load's validation result as plain data, built from the compiled rule counts without Great Expectations.

The document is the dict GE's `ExpectationSuiteValidationResult.to_json_dict()` gives (GE rebuilds
the object from it: `quality.docs.result_from_document`), so a load can store it as JSON and
leave GE's import (seconds) and rendering to `ndc docs serve`, which renders the Data Docs page
on its first request (quality/render.py). `validation_page` says, also without GE, where that
page will be, so the load can record its link before it exists.

Only compiled (row-level) rules are reported; dataset-level expectations are validated by
`quality.ge_engine`, never on a load's path.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

    from quality.compile import CompiledSuite
    from quality.suites import SuiteLike

ENGINE = "polars"  # what judged the rows; shown in each result's meta
# GE's format for a run time in a page path (RunIdentifier.to_tuple).
_GE_RUN_TIME = "%Y%m%dT%H%M%S.%fZ"
_NO_EXCEPTION = {"raised_exception": False, "exception_traceback": None, "exception_message": None}


def expectation_success(unexpected: int, element_count: int, mostly: float) -> bool:
    """GE's verdict with `mostly`: the share of expected rows among all rows must reach it.

    GE divides by non-null rows for null-ignoring expectations: with mostly < 1 the two can differ.
    """
    if not unexpected:
        return True
    share = unexpected / element_count if element_count else 0.0
    return (1.0 - share) >= mostly


def validation_document(
    compiled: CompiledSuite,
    suite: SuiteLike,
    counts: Mapping[str, int],
    element_count: int,
    run_id: str,
    *,
    batch_id: str | None = None,
    run_time: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The suite's validation result from compiled counts, as GE's JSON dict (see the module's doc).

    One result per expectation the compiler took, in the suite's order, with its configuration as
    the suite wrote it (`meta.rule_id` included), the counts and `success` with `mostly` applied.
    """
    by_id = {rule.rule_id: rule for rule in compiled.rules}
    results = []
    for expectation in suite.expectations:
        config = expectation.configuration
        rule = by_id.get((config.meta or {}).get("rule_id", ""))
        if rule is None:
            continue
        unexpected = int(counts.get(rule.rule_id, 0))
        percent = 100.0 * unexpected / element_count if element_count else 0.0
        results.append(
            {
                "success": expectation_success(unexpected, element_count, rule.mostly),
                "expectation_config": dict(config.to_json_dict()),
                "result": {
                    "element_count": element_count,
                    "unexpected_count": unexpected,
                    "unexpected_percent": percent,
                    "unexpected_percent_total": percent,
                    "partial_unexpected_list": [],
                },
                "meta": {"rule_id": rule.rule_id, "severity": rule.severity, "engine": ENGINE},
                "exception_info": dict(_NO_EXCEPTION),
            }
        )
    successful = sum(result["success"] for result in results)
    when = (run_time or datetime.datetime.now(datetime.UTC)).isoformat()
    return {
        "success": successful == len(results),
        "results": results,
        "suite_name": suite.name,
        "suite_parameters": {},
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": 100.0 * successful / len(results) if results else None,
        },
        "meta": {
            "run_id": {"run_name": run_id, "run_time": when},
            # Data Docs' index reads the asset name from here (GE's own results hold a batch definition).
            "batch_spec": {"engine": ENGINE, "data_asset_name": suite.name, "batch_id": batch_id or run_id},
            "great_expectations_version": importlib.metadata.version("great_expectations"),
            "validation_time": when,
        },
        "id": None,
    }


def validation_page(document: Mapping[str, Any] | None) -> str:
    """Where GE's Data Docs put the page of `document`, relative to its site; index.html for None.

    GE's path is validations/<suite name, one folder per dot>/<run name>/<run time>/<batch id>.html
    (ValidationResultIdentifier.to_tuple under its filesystem store); tests/test_quality_docs.py
    checks it against a real render, so a GE upgrade that moves pages fails there.
    """
    if document is None:
        return "index.html"
    run = document["meta"]["run_id"]
    run_time = datetime.datetime.fromisoformat(run["run_time"]).astimezone(datetime.UTC)
    batch = document["meta"]["batch_spec"]["batch_id"]
    return "/".join(
        ["validations", *document["suite_name"].split("."), run["run_name"], run_time.strftime(_GE_RUN_TIME), f"{batch}.html"]
    )


def validation_result(
    compiled: CompiledSuite,
    suite: SuiteLike,
    counts: Mapping[str, int],
    element_count: int,
    run_id: str,
    *,
    batch_id: str | None = None,
) -> ExpectationSuiteValidationResult:
    """`validation_document` as GE's object (imports Great Expectations: not for a load's path)."""
    from quality.docs import result_from_document

    return result_from_document(validation_document(compiled, suite, counts, element_count, run_id, batch_id=batch_id))
