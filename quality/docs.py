"""Great Expectations Data Docs for validation results, built to a local folder.

GE 1.x builds Data Docs to a local site only: an ephemeral context gets a filesystem site at
`site_dir`, the results are stored in its (in-memory) validation results store, and GE renders
one page per result plus an index. A load stores its result as JSON (quality/validation.py);
`result_from_document` makes GE's object of it again, for rendering (quality/render.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

SITE_NAME = "ndc_local_site"


def result_from_document(document: Mapping[str, Any]) -> ExpectationSuiteValidationResult:
    """GE's validation result from its JSON dict (as `to_json_dict()` or quality.validation gives it).

    GE's own loader leaves the run id a dict and drops the batch id (to_json_dict does not write
    it): both are restored from the meta, as the Data Docs page path is made of them.
    """
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier

    import quality.expectations  # noqa: F401  custom expectation types must be known to load them

    result = expectationSuiteValidationResultSchema.load(dict(document))
    meta = dict(document.get("meta") or {})
    run = meta.get("run_id")
    if isinstance(run, Mapping):
        result.meta["run_id"] = RunIdentifier(run_name=run.get("run_name"), run_time=run.get("run_time"))
    batch = meta.get("batch_spec") or {}
    result.batch_id = batch.get("batch_id") if isinstance(batch, Mapping) else None
    return result


def build_data_docs(results: Sequence[ExpectationSuiteValidationResult], site_dir: Path) -> Path:
    """Render `results` as Data Docs under `site_dir`; return the path of its index.html."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    import quality.expectations  # noqa: F401  custom expectations must be known to render them

    site_dir = Path(site_dir).resolve()
    site_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        site_name=SITE_NAME,
        site_config={
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    for position, result in enumerate(results):
        run_id = result.meta.get("run_id")
        if not isinstance(run_id, RunIdentifier):
            run_id = RunIdentifier(run_name=str(run_id or f"run-{position}"))
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=run_id,
            batch_identifier=result.batch_id or f"batch-{position}",
        )
        context.validation_results_store.set(key, result)
    context.build_data_docs(site_names=[SITE_NAME])
    index = site_dir / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GE did not write Data Docs to {site_dir} (no index.html)")
    return index
