"""The one registry of rules: what each rule is, read once, used by the compiler and the asset checks.

A suite's JSON (quality/suites.py reads it) becomes one RuleSpec per expectation: its id, columns,
description, severity and kind. quality/compile.py compiles the specs to Polars; assets/ turns the
same specs into one asset check each. The pipeline's own rules (duplicates, linkage, unsafe keys,
tombstones) are RuleSpecs too, declared in pipeline/rules.py next to the code that raises them.
This module imports neither Great Expectations nor Polars: suites are read duck-typed (a GE suite
or a quality.suites.SuiteOutline).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from quality.suites import SuiteLike, suite_outline

Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")
RULE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
PIPELINE_KIND = "pipeline"  # the kind of a rule the pipeline raises itself, not a GE expectation


class SuiteCompileError(ValueError):
    """A suite cannot be compiled; the message names the suite and the expectation."""


@dataclass(frozen=True)
class RuleSpec:
    """One rule, as every consumer sees it.

    `kind` is the GE expectation type (or PIPELINE_KIND); `severity` says whether a broken row is
    quarantined (`error`) or lands flagged (`warning`); `mostly` is the share of rows that must
    keep it; a `blocking` rule's failed check stops gold. `kwargs` are the expectation's own
    arguments, as the suite wrote them (parameters unresolved): the compiler's input.
    """

    rule_id: str
    kind: str
    severity: Severity
    description: str
    columns: tuple[str, ...] = ()
    mostly: float = 1.0
    blocking: bool = False
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def columns_of(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if "column" in kwargs:
        return (kwargs["column"],)
    if "column_A" in kwargs:
        return tuple(c for c in (kwargs["column_A"], kwargs.get("column_B")) if c is not None)
    return tuple(kwargs.get("column_list") or ())


def _severity(meta: Mapping[str, Any], where: str) -> Severity:
    severity = meta.get("severity", "error")
    if severity not in SEVERITIES:
        raise SuiteCompileError(f"{where}: meta.severity must be 'error' or 'warning', not {severity!r}")
    return cast(Severity, severity)


def _mostly(kwargs: Mapping[str, Any]) -> float:
    mostly = kwargs.get("mostly")
    return float(mostly) if isinstance(mostly, int | float) and mostly else 1.0


def rule_specs(suite: SuiteLike) -> tuple[RuleSpec, ...]:
    """One RuleSpec per expectation of `suite`, in order; SuiteCompileError (naming the suite and
    the expectation) for a missing, malformed or repeated rule id or an unknown severity."""
    specs: list[RuleSpec] = []
    seen: set[str] = set()
    for expectation in suite.expectations:
        config = expectation.configuration
        kind, meta, kwargs = config.type, dict(config.meta or {}), dict(config.kwargs)
        where = f"suite '{suite.name}', {kind}"
        rule_id = meta.get("rule_id")
        if not isinstance(rule_id, str) or not rule_id:
            raise SuiteCompileError(f"{where} ({kwargs}): meta.rule_id is required")
        if not RULE_ID.match(rule_id):
            raise SuiteCompileError(
                f"{where}: rule_id {rule_id!r} may hold only letters, digits, '_', '.', '-'"
            )
        if rule_id in seen:
            raise SuiteCompileError(f"{where}: rule_id '{rule_id}' is used twice")
        seen.add(rule_id)
        specs.append(
            RuleSpec(
                rule_id=rule_id,
                kind=kind,
                severity=_severity(meta, where),
                description=meta.get("description") or kind,
                columns=columns_of(kwargs),
                mostly=_mostly(kwargs),
                blocking=bool(meta.get("blocking", False)),
                kwargs=kwargs,
            )
        )
    return tuple(specs)


def suite_rules(name: str, suites_dir: Path | None = None) -> tuple[RuleSpec, ...]:
    """The rules of the suite `name` (its JSON read without Great Expectations)."""
    return rule_specs(suite_outline(name, suites_dir))
