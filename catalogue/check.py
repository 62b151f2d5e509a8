"""`ndc check`: everything that can be known wrong about the catalogue before a row is read.

Each check is a small function from the loaded catalogue to findings (severity, where, message);
adding a check is adding a function to OFFLINE_CHECKS. The offline checks also run when the
Dagster Definitions load and at the start of every load, so a suite the engine cannot compile
fails before anything is written. `connection_findings` (``ndc check --connect``) reaches out to
every source and is never run implicitly.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from catalogue.loader import Catalogue, CatalogueError, catalogue_dir, load_catalogue, resolve_settings
from catalogue.models import Entity
from catalogue.policies import deletion_findings

if TYPE_CHECKING:
    import great_expectations as gx

    from quality.compile import CompiledSuite
    from quality.suites import SuiteOutline

Severity = Literal["error", "warning", "ok"]  # "ok": a source --connect reached


@dataclass(frozen=True)
class Finding:
    severity: Severity
    where: str  # a file, a source or a table: what to open to fix it
    message: str

    def line(self) -> str:
        return f"{self.severity} {self.where}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "where": self.where, "message": self.message}


CatalogueCheck = Callable[[Catalogue], Iterable[Finding]]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.severity == "error"]


def _suite_path(entity: Entity) -> Path:
    from quality.suites import suites_dir

    return suites_dir() / f"{entity.suite}.json"


def compiled_suite(
    entity: Entity, today: datetime.date, *, with_ge: bool = True
) -> tuple[gx.ExpectationSuite | SuiteOutline, CompiledSuite]:
    """The entity's suite, read and compiled; CatalogueError (one line naming the file) when it cannot be.

    `with_ge=False` reads the JSON without Great Expectations (whose import takes seconds): every
    compiler check still runs, only GE's own check of each expectation's arguments is skipped.
    """
    from quality.compile import SuiteCompileError, compile_suite
    from quality.suites import SuiteError, load_suite, suite_outline

    try:
        suite = load_suite(entity.suite) if with_ge else suite_outline(entity.suite)
        return suite, compile_suite(suite, today=today)  # type: ignore[arg-type]
    except SuiteError as error:
        where = str(_suite_path(entity))
        raise CatalogueError([str(error) if str(error).startswith(where) else f"{where}: {error}"]) from None
    except SuiteCompileError as error:
        raise CatalogueError(
            [
                f"{_suite_path(entity)}: {error}; fix or remove that expectation (`ndc check` lists every problem)"
            ]
        ) from None


def suite_findings(entity: Entity, today: datetime.date, *, with_ge: bool = True) -> list[Finding]:
    """The entity's suite compiles, and its rules read only columns the entity has."""
    try:
        _, compiled = compiled_suite(entity, today, with_ge=with_ge)
    except CatalogueError as error:
        return [_from_problem(problem) for problem in error.problems]
    where = str(_suite_path(entity))
    columns = set(entity.column_names)
    return [
        Finding(
            "error",
            where,
            f"rule '{rule.rule_id}' reads column '{column}', which entity '{entity.name}' does not have "
            f"(its columns: {', '.join(entity.column_names)})",
        )
        for rule in compiled.rules
        for column in rule.columns
        if column not in columns
    ]


def suites_compile(catalogue: Catalogue, *, with_ge: bool = True) -> Iterator[Finding]:
    today = datetime.date.today()
    used = {ref.entity.name: ref.entity for ref in catalogue.tables}
    for entity in used.values():
        yield from suite_findings(entity, today, with_ge=with_ge)


def suites_compile_quickly(catalogue: Catalogue) -> Iterator[Finding]:
    """suites_compile without importing Great Expectations: for Definitions, loaded often."""
    return suites_compile(catalogue, with_ge=False)


def needs_register(entity: Entity) -> bool:
    """Records of this entity are linked to the population register's people."""
    return not entity.population_register and bool(entity.person or entity.personal_id_columns)


def register_present(catalogue: Catalogue) -> Iterator[Finding]:
    """Linking needs the population register in the same catalogue: without it nothing links, and
    every legacy CMND would be quarantined as unresolved."""
    registers = [ref for ref in catalogue.tables if ref.entity.population_register]
    linking = [ref.key for ref in catalogue.tables if needs_register(ref.entity)]
    where = str(catalogue_dir())
    if linking and not registers:
        yield Finding(
            "error",
            where,
            f"table(s) {', '.join(linking)} link people to the population register, but no table of this "
            "catalogue loads it (an entity with `population_register: true`, e.g. population.citizens); "
            "copy the population source and the citizen entity into this catalogue folder",
        )
    if len(registers) > 1:
        yield Finding(
            "error",
            where,
            f"{len(registers)} tables load a population register ({', '.join(r.key for r in registers)}); "
            "keep one: people link to a single register",
        )
    for ref in registers:
        if ref.entity.person is None:
            yield Finding(
                "error",
                f"entity '{ref.entity.name}'",
                "the population register declares no `person:` keys; add at least `personal_id`",
            )


def deletions_declared(catalogue: Catalogue) -> Iterator[Finding]:
    """A warning for each table whose deleted rows would stay live (`deletes: none`)."""
    for severity, where, message in deletion_findings(catalogue):
        yield Finding("warning" if severity == "warning" else "error", where, message)


OFFLINE_CHECKS: list[CatalogueCheck] = [suites_compile, register_present, deletions_declared]


def quick_checks() -> list[CatalogueCheck]:
    """What Definitions run on load: OFFLINE_CHECKS, less GE's own argument checks (its import costs seconds)."""
    return [suites_compile_quickly if check is suites_compile else check for check in OFFLINE_CHECKS]


def _from_problem(problem: str) -> Finding:
    """A catalogue problem line ('<file>: what') as a finding."""
    where, _, message = problem.partition(": ")
    return Finding("error", where, message) if message else Finding("error", "catalogue", problem)


def check_catalogue(checks: Iterable[CatalogueCheck] | None = None) -> tuple[Catalogue | None, list[Finding]]:
    """Load the catalogue (NDC_CATALOGUE_DIR, NDC_SUITES_DIR) and run `checks` (every offline
    check by default); the catalogue is None when it does not load."""
    try:
        catalogue = load_catalogue()
    except CatalogueError as error:
        return None, [_from_problem(problem) for problem in error.problems]
    checks = OFFLINE_CHECKS if checks is None else checks
    return catalogue, list(itertools.chain.from_iterable(check(catalogue) for check in checks))


def checked_catalogue() -> Catalogue:
    """The catalogue, refused with CatalogueError (every error, one line each) when a quick check fails."""
    catalogue, findings = check_catalogue(quick_checks())
    problems = [finding.line().removeprefix("error ") for finding in errors(findings)]
    if catalogue is None or problems:
        raise CatalogueError(problems)
    return catalogue


def connection_findings(catalogue: Catalogue) -> Iterator[Finding]:
    """Reach every source: log in, then read the first row of each table and compare its columns
    with the mapping. One finding per source: an error, or "reachable" as a warning-free note."""
    from connectors import ExtractRequest, SourceError, open_connector

    for source in catalogue.sources.values():
        where = f"source '{source.name}'"
        try:
            connector = open_connector(source.name, source.connection.kind, resolve_settings(source))
            connector.check()
            read: list[str] = []
            for table in source.tables:
                request = ExtractRequest(
                    source=source.name, table=table.table, query=table.query, batch_rows=1
                )
                batches = connector.extract(request)
                try:
                    first = next(iter(batches), None)
                finally:
                    getattr(batches, "close", lambda: None)()
                if first is None:
                    read.append(f"{table.name} (empty)")
                    continue
                missing = [c for c in table.source_columns if c not in first.schema.names]
                if missing:
                    raise SourceError(
                        source.name,
                        f"table '{table.table or table.name}' has no column(s) {', '.join(missing)} "
                        f"(it has: {', '.join(first.schema.names)})",
                        "Fix the column mapping in the catalogue or ask the ministry about the schema change.",
                    )
                read.append(table.name)
        except (SourceError, CatalogueError) as error:
            message = "; ".join(error.problems) if isinstance(error, CatalogueError) else str(error)
            yield Finding("error", where, message.removeprefix(f"{where}: "))
            continue
        except Exception as error:  # a connector's unforeseen failure is still one line about this source
            yield Finding("error", where, f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
            continue
        yield Finding("ok", where, f"reachable; read {', '.join(read)}")
