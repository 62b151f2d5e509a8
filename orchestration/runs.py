"""How a run of nightly_sync is asked for (a window of days, or a full refresh), and what
a failed run says: one line per failed step, taken from the run's events."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from catalogue import load_catalogue
from pipeline.names import table_of_op, table_op_name


def load_run_config(
    tables: list[str] | None = None, *, full_refresh: bool = False, window: dict[str, str] | None = None
) -> dict:
    """Run configuration of the chosen loads: a full refresh, or a watermark window (`since` /
    `until`). A window applies to tables read by watermark only: file drops have none, and keep
    reading the file versions not read yet."""
    from assets.ministries import reads_by_watermark

    refs = [r for r in load_catalogue().tables if tables is None or r.key in tables]
    return {
        "ops": {
            table_op_name(r): {
                "config": {"full_refresh": full_refresh, **(window if reads_by_watermark(r) and window else {})}
            }
            for r in refs
        }
    }


def full_refresh_config(tables: list[str] | None = None) -> dict:
    """Every chosen load reads its whole source (the demo's first load; repeating it is idempotent)."""
    return load_run_config(tables, full_refresh=True)


def step_subject(step_key: str) -> str:
    """`load_population__citizens` → `population.citizens`: the name the user typed; other steps as they are."""
    found = table_of_op(step_key)
    return ".".join(found) if found else step_key


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _without_class_prefix(message: str) -> str:
    """`dagster._core.definitions.events.Failure: source 'x': …` → `source 'x': …`."""
    head, separator, rest = message.partition(": ")
    return rest if separator and re.fullmatch(r"[\w.]+", head) and "." in head else message


def step_failure_message(data: Any) -> str:
    """What one STEP_FAILURE event says, in one line.

    A `dg.Failure` carries the pipeline's own sentence (source, problem, what to do) as its
    description; anything else is the innermost error, class name kept (it is a bug to report).
    """
    described = getattr(getattr(data, "user_failure_data", None), "description", None)
    if described:
        return _one_line(described)
    error = data.error
    if error is None:
        return "failed (no error recorded)"
    while error.cause is not None:  # Dagster wraps the user code's error in its own
        error = error.cause
    if error.cls_name == "Failure" or _is_source_error(error.cls_name):
        # A source error left after the retries (e.g. a database still down) says what to do itself.
        return _one_line(_without_class_prefix(error.message.strip()))
    return f"{_one_line(error.message)} (not a known mistake: `ndc --debug` shows the traceback)"


def _is_source_error(cls_name: str | None) -> bool:
    """Whether a serialized error's class is one of connectors' SourceError kinds (known mistakes)."""
    from connectors import errors

    kind = getattr(errors, cls_name or "", None)
    return isinstance(kind, type) and issubclass(kind, errors.SourceError)


def run_failure_lines(result: Any, explain: Callable[[str], str | None] = lambda _: None) -> list[str]:
    """One line per failed step, `<source.table>: <why>`; a line for the run when no step failed.

    `explain` may replace a raw message by a clearer one (e.g. an S3 error by the setting to fix).
    """
    lines = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            message = step_failure_message(event.event_specific_data)
            lines.append(f"{step_subject(event.step_key or '?')}: {explain(message) or message}")
    if lines or result.success:
        return lines
    for event in result.all_events:
        if event.event_type_value in ("RUN_FAILURE", "PIPELINE_FAILURE"):
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                return [f"run {result.run_id[:8]} failed: {_one_line(error.message)}"]
    return [f"run {result.run_id[:8]} failed: see `dagster dev` for its events"]
