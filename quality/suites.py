"""The committed GE file data context (`quality/gx/`) and its expectation suites, one per entity.

Suites are JSON files in `quality/gx/expectations/<suite>.json` (or `$NDC_SUITES_DIR/<suite>.json`
where a deployment keeps its suites beside its catalogue), the source of truth for every rule:
`meta.rule_id` names the rule (quarantine reasons cite it) and `meta.severity` says whether a broken
row is quarantined (`error`) or lands flagged (`warning`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import environment

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.data_context import FileDataContext

QUALITY_DIR = Path(__file__).resolve().parent
GX_DIR = QUALITY_DIR / "gx"
SUITES_DIR = GX_DIR / "expectations"  # the default; see suites_dir()
SUITES_ENV = "NDC_SUITES_DIR"


class SuiteError(ValueError):
    """A suite file is missing or invalid; the message names the file."""


def suites_dir() -> Path:
    """The suites folder: `$NDC_SUITES_DIR` when set, else SUITES_DIR. Read at each call, so a
    deployment (or a test) that sets the variable after import is obeyed."""
    configured = environment.settings().suites_dir
    return configured.expanduser() if configured else SUITES_DIR


def _folder(given: Path | None) -> Path:
    return suites_dir() if given is None else Path(given)


def suite_names(suites_dir: Path | None = None) -> list[str]:
    """The names of the suites present (in suites_dir(), unless a folder is given), sorted."""
    return sorted(path.stem for path in _folder(suites_dir).glob("*.json"))


class ExpectationConfigurationLike(Protocol):
    """What the compiler, the rules registry and validation results read of an expectation's
    configuration: GE's ExpectationConfiguration and OutlineConfiguration both have it."""

    type: str
    kwargs: Mapping[str, Any]
    meta: Mapping[str, Any] | None

    def to_json_dict(self) -> Mapping[str, Any]: ...


class ExpectationLike(Protocol):
    @property
    def configuration(self) -> ExpectationConfigurationLike: ...


class SuiteLike(Protocol):
    """A GE suite or a SuiteOutline: both name their expectations' configurations."""

    name: str

    @property
    def expectations(self) -> Any: ...  # a sequence of ExpectationLike


@dataclass(frozen=True)
class OutlineConfiguration:
    """One expectation as its JSON says; `id` and `severity` are kept so that a validation result
    built from the outline (quality/validation.py) names the expectation as GE would."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]
    id: str | None = None
    severity: str = "critical"  # GE's failure severity, not our meta.severity (error / warning)

    def to_json_dict(self) -> dict[str, Any]:
        """The dict GE's ExpectationConfiguration.to_json_dict() gives for the same expectation."""
        return {"type": self.type, "kwargs": self.kwargs, "meta": self.meta, "id": self.id, "severity": self.severity}


@dataclass(frozen=True)
class OutlineExpectation:
    configuration: OutlineConfiguration


@dataclass(frozen=True)
class SuiteOutline:
    """A suite as its JSON says, without Great Expectations: enough for the compiler (which reads
    suites duck-typed) to say whether every rule compiles, in milliseconds instead of GE's import."""

    name: str
    expectations: list[OutlineExpectation]


def _document(name: str, folder: Path) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    path = folder / f"{name}.json"
    if not path.is_file():
        known = ", ".join(suite_names(folder)) or "none"
        raise SuiteError(f"no suite '{name}': {path} does not exist (suites there: {known})")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SuiteError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(document, dict) or document.get("name") != name:
        raise SuiteError(f"{path}: expected a suite object whose name is '{name}'")
    expectations = document.get("expectations")
    if not isinstance(expectations, list):
        raise SuiteError(f"{path}: 'expectations' must be a list")
    return path, expectations, document


def suite_outline(name: str, suites_dir: Path | None = None) -> SuiteOutline:
    """Read `<suites_dir>/<name>.json` without GE; GE's own argument checks are left to load_suite."""
    path, expectations, _ = _document(name, _folder(suites_dir))
    outline = []
    for position, expectation in enumerate(expectations):
        if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
            raise SuiteError(f"{path}: expectation #{position} has no 'type'")
        outline.append(
            OutlineExpectation(
                OutlineConfiguration(
                    expectation["type"],
                    dict(expectation.get("kwargs") or {}),
                    dict(expectation.get("meta") or {}),
                    id=expectation.get("id"),
                    severity=expectation.get("severity", "critical"),
                )
            )
        )
    return SuiteOutline(name, outline)


def load_suite(name: str, suites_dir: Path | None = None) -> gx.ExpectationSuite:
    """Read `<suites_dir>/<name>.json` as a GE suite (custom expectations registered first); the
    folder defaults to suites_dir(), resolved now.

    Raises SuiteError naming the file when it is missing, not JSON, or holds an expectation GE
    rejects (GE itself would only log and drop it).
    """
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    import quality.expectations  # noqa: F401  registers the custom expectation types with GE

    path, expectations, document = _document(name, _folder(suites_dir))
    built = []
    for position, expectation in enumerate(expectations):
        try:
            configuration = ExpectationConfiguration(
                type=expectation["type"],
                kwargs=expectation.get("kwargs", {}),
                meta=expectation.get("meta"),
                id=expectation.get("id"),
                severity=expectation.get("severity", "critical"),
            )
            configuration.to_domain_obj()  # validates the kwargs; GE would only log a bad one
            built.append(configuration)
        except Exception as error:  # GE raises several unrelated types for a bad expectation
            what = expectation.get("type") if isinstance(expectation, dict) else expectation
            raise SuiteError(f"{path}: expectation #{position} ({what}) is invalid: {error}") from error
    return gx.ExpectationSuite(
        name=name,
        expectations=built,
        meta=document.get("meta"),
        notes=document.get("notes"),
        id=document.get("id"),
    )


def gx_context(project_root: Path = QUALITY_DIR) -> FileDataContext:
    """The committed file data context (its uncommitted/ folder is git-ignored)."""
    import great_expectations as gx

    import quality.expectations  # noqa: F401

    return gx.get_context(mode="file", project_root_dir=str(project_root))
