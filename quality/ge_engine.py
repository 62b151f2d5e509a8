"""Validate a Polars frame with Great Expectations' own pandas engine.

Used for parity (the compiled Polars rules must report the same unexpected counts) and for the
dataset-level expectations the compiler leaves to GE. GE runs in an ephemeral context on one
batch holding the whole frame: chunking a GE run would break uniqueness checks.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult


def to_pandas_for_ge(frame: pl.DataFrame) -> pd.DataFrame:
    """The frame as pandas with dates as datetime64[ns].

    Polars hands dates over as datetime64[ms], which sends GE's `between` down a per-row Python
    path (three times slower); nanoseconds keep it vectorised.
    """
    temporal = [
        name for name, dtype in frame.schema.items() if dtype == pl.Date or isinstance(dtype, pl.Datetime)
    ]
    frame = frame.with_columns(pl.col(name).cast(pl.Datetime("ns")) for name in temporal)
    return frame.to_pandas()


def validate_with_ge(
    frame: pl.DataFrame, suite: gx.ExpectationSuite, *, today: datetime.date | None = None
) -> ExpectationSuiteValidationResult:
    """Run `suite` on the whole frame with GE's pandas engine; `today` fills {"$PARAMETER": "today"}."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import quality.expectations  # noqa: F401  registers the custom expectation types

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"ndc_{uuid.uuid4().hex[:12]}"
    source = context.data_sources.add_pandas(name)
    asset = source.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(name).get_batch(
        batch_parameters={"dataframe": to_pandas_for_ge(frame)}
    )
    parameters = {"today": (today or datetime.date.today()).isoformat()}
    return batch.validate(suite, result_format="SUMMARY", expectation_parameters=parameters)


def unexpected_counts_with_ge(
    frame: pl.DataFrame, suite: gx.ExpectationSuite, *, today: datetime.date | None = None
) -> dict[str, int]:
    """Unexpected row count per rule id (meta.rule_id) as GE's pandas engine finds it.

    Dataset-level expectations have no rows: they count 0 when they pass and 1 when they fail.
    An expectation GE could not evaluate raises, naming the rule and GE's message.
    """
    result = validate_with_ge(frame, suite, today=today)
    counts: dict[str, int] = {}
    for outcome in result.results:
        config = outcome.expectation_config
        rule_id = (config.meta or {}).get("rule_id", config.type)
        message = _exception_message(outcome.exception_info)
        if message is not None:
            raise RuntimeError(f"GE could not evaluate rule '{rule_id}' ({config.type}): {message}")
        unexpected = (outcome.result or {}).get("unexpected_count")
        counts[rule_id] = int(unexpected) if unexpected is not None else int(not outcome.success)
    return counts


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """GE's exception info is flat, or nested per metric; the first raised exception's message."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and (message := _exception_message(value)) is not None:
            return message
    return None
