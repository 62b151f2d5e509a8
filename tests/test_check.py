"""`ndc check` and the same checks at Definitions load and before each load: a catalogue that
would fail half-way is refused before anything is written, one line per problem."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from catalogue import CATALOGUE_DIR, CatalogueError, load_catalogue
from catalogue.check import check_catalogue, checked_catalogue
from demo.generator import generate
from orchestration.cli import main
from pipeline.link import LINK_METHOD
from pipeline.load import load_table
from pipeline.mapping import canonical_columns
from pipeline.names import LoadNames
from quality.compile import ERRORS_COLUMN, compile_suite, flag_rows
from quality.suites import SUITES_DIR, load_suite
from warehouse.committed import LOADS
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

TODAY = dt.date(2026, 11, 1)
UNCOMPILABLE = {
    "type": "expect_column_values_to_be_increasing",
    "kwargs": {"column": "updated_at"},
    "meta": {"rule_id": "updated_at.increasing", "severity": "error"},
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("check") / "demo"
    generate(root, citizens=300, seed=5)
    return root


def _catalogue_copy(
    folder: Path, sources: list[str] | None = None, entities: list[str] | None = None
) -> Path:
    """The shipped catalogue and suites copied to `folder` (only the named files when given)."""
    for kind, names in (("sources", sources), ("entities", entities)):
        (folder / kind).mkdir(parents=True)
        for path in (CATALOGUE_DIR / kind).glob("*.yml"):
            if names is None or path.stem in names:
                shutil.copy(path, folder / kind / path.name)
    shutil.copytree(SUITES_DIR, folder / "suites")
    return folder


@pytest.fixture
def uncompilable(tmp_path, monkeypatch) -> Path:
    """A catalogue whose citizen suite holds an expectation the engine cannot compile, made current."""
    folder = _catalogue_copy(tmp_path / "catalogue")
    suite = folder / "suites" / "citizen.json"
    document = json.loads(suite.read_text())
    document["expectations"].append(UNCOMPILABLE)
    suite.write_text(json.dumps(document))
    monkeypatch.setenv("NDC_CATALOGUE_DIR", str(folder))
    monkeypatch.setenv("NDC_SUITES_DIR", str(folder / "suites"))
    return suite


def test_ndc_check_passes_the_shipped_catalogue():
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "error" not in result.stdout
    # The civil status drops declare `deletes: none`: a visible choice, flagged, not an error.
    warned = sorted(line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("warning "))
    assert warned == [f"warning civil_status.{table}" for table in ("births", "deaths", "marriages")]


def test_ndc_check_names_a_suite_the_engine_cannot_compile(uncompilable):
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("error ")]
    assert len(lines) == 1
    assert lines[0].startswith(f"error {uncompilable}: ")
    assert "updated_at.increasing" in lines[0] and "expect_column_values_to_be_increasing" in lines[0]
    assert "row order" in lines[0]


def test_ndc_check_json_gives_severity_place_and_message(uncompilable):
    result = CliRunner().invoke(main, ["check", "--json"])
    assert result.exit_code == 1
    findings = [f for f in json.loads(result.stdout) if f["severity"] != "warning"]  # deletes: none, below
    assert [(f["severity"], f["where"]) for f in findings] == [("error", str(uncompilable))]


def test_definitions_refuse_the_catalogue_with_one_line(uncompilable):
    # orchestration.definitions builds its catalogue with checked_catalogue().
    with pytest.raises(CatalogueError) as raised:
        checked_catalogue()
    assert len(raised.value.problems) == 1
    assert str(uncompilable) in raised.value.problems[0]
    assert "updated_at.increasing" in raised.value.problems[0]


def _versions(warehouse: Warehouse, ref) -> dict[str, int | None]:
    names = LoadNames.of(ref)
    return {str(n): warehouse.version(n) for n in (names.bronze, names.quarantine, names.silver, LOADS)}


@pytest.mark.slow
def test_a_load_with_an_uncompilable_suite_fails_before_any_write(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NDC_DEMO_DIR", str(demo_dir))
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    ref = load_catalogue().table("population.citizens")
    load_table(ref, warehouse, run_id="good", today=TODAY)
    before = _versions(warehouse, ref)

    folder = _catalogue_copy(tmp_path / "broken")
    suite = folder / "suites" / "citizen.json"
    document = json.loads(suite.read_text())
    document["expectations"].append(UNCOMPILABLE)
    suite.write_text(json.dumps(document))
    monkeypatch.setenv("NDC_SUITES_DIR", str(folder / "suites"))
    with pytest.raises(CatalogueError) as raised:
        load_table(ref, warehouse, run_id="broken", today=TODAY)
    assert len(raised.value.problems) == 1 and "updated_at.increasing" in raised.value.problems[0]
    assert _versions(warehouse, ref) == before


@pytest.mark.slow
def test_ndc_sync_with_an_uncompilable_suite_fails_and_writes_nothing(demo_dir, uncompilable, tmp_path):
    warehouse = tmp_path / "warehouse"
    env = {
        **os.environ,
        "NDC_DEMO_DIR": str(demo_dir),
        "NDC_WAREHOUSE_URI": str(warehouse),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "sync", "--table", "population.citizens"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(uncompilable) in output and "updated_at.increasing" in output
    assert not warehouse.exists() or not any(warehouse.rglob("_delta_log"))


def test_a_catalogue_that_links_people_without_the_register_is_refused(tmp_path, monkeypatch):
    folder = _catalogue_copy(
        tmp_path / "partial", sources=["social_insurance"], entities=["insured_person", "contribution_period"]
    )
    monkeypatch.setenv("NDC_CATALOGUE_DIR", str(folder))
    monkeypatch.setenv("NDC_SUITES_DIR", str(folder / "suites"))
    catalogue, findings = check_catalogue()
    assert catalogue is not None
    assert [(f.severity, f.where) for f in findings] == [("error", str(folder))]
    assert "social_insurance.insured_persons" in findings[0].message
    assert "population_register" in findings[0].message
    with pytest.raises(CatalogueError):
        checked_catalogue()


@pytest.mark.slow
def test_linked_counts_only_records_linked_to_a_register_record(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NDC_DEMO_DIR", str(demo_dir))
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))
    ref = load_catalogue().table("social_insurance.insured_persons")
    report = load_table(ref, warehouse, run_id="no-register", today=TODAY, people=None)
    methods = warehouse.read(LoadNames.of(ref).silver)[LINK_METHOD].value_counts()
    unverified = methods.filter(pl.col(LINK_METHOD) == "unverified")["count"].sum()
    assert report.landed > 0 and unverified > 0
    assert report.linked == 0


def _judged_citizens(dates: list[str | None]) -> pl.DataFrame:
    """Citizen rows as the population register sends them, mapped and judged by the shipped suite."""
    ref = load_catalogue().table("population.citizens")
    raw = pl.DataFrame(
        {column: pl.Series([None] * len(dates), dtype=pl.String) for column in ref.table.source_columns}
    ).with_columns(
        so_dinh_danh=pl.Series([f"00109000000{i}" for i in range(len(dates))]),
        ngay_sinh=pl.Series(dates, dtype=pl.String),
    )
    canonical = raw.select(canonical_columns(ref.table, ref.entity))
    return flag_rows(canonical, compile_suite(load_suite(ref.entity.suite), today=TODAY))


def test_an_impossible_date_of_birth_is_invalid_and_a_missing_one_is_missing():
    judged = _judged_citizens(["31/02/1990", None, "  ", "00/07/1990", "15/03/1990"])
    rules = [{r for r in row if r.startswith("date_of_birth.")} for row in judged[ERRORS_COLUMN].to_list()]
    assert rules == [
        {"date_of_birth.valid_date"},
        {"date_of_birth.required"},
        {"date_of_birth.required"},  # blank is nothing sent
        set(),  # a partial date parses, with its precision
        set(),
    ]
    assert judged["date_of_birth_raw"].to_list()[0] == "31/02/1990"


def test_the_docs_name_every_compiled_and_every_unsupported_expectation():
    from quality.compile import COMPILERS, NOT_SUPPORTED

    page = (Path(__file__).resolve().parents[1] / "docs" / "adding-a-source.md").read_text(encoding="utf-8")
    named = [
        kind
        for kind in [*COMPILERS, *NOT_SUPPORTED]
        if f"`{kind}`" not in page and f"`…{kind.removeprefix('expect_column_values')}`" not in page
    ]
    assert named == []


@pytest.mark.slow
def test_check_connect_reaches_every_source_one_line_each(demo_dir, monkeypatch):
    monkeypatch.setenv("NDC_DEMO_DIR", str(demo_dir))
    result = CliRunner().invoke(main, ["check", "--connect"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if not line.startswith("warning ")]
    assert sorted(line.split("'")[1] for line in lines) == sorted(load_catalogue().sources)
    assert all(line.startswith("ok source '") and "reachable" in line for line in lines)


def test_check_connect_names_the_source_it_cannot_reach(tmp_path, monkeypatch):
    monkeypatch.setenv("NDC_DEMO_DIR", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(main, ["check", "--connect", "--json"])
    assert result.exit_code == 1
    findings = {f["where"]: f for f in json.loads(result.stdout) if f["severity"] != "warning"}
    assert findings["source 'population'"]["severity"] == "error"
    assert "does not exist" in findings["source 'population'"]["message"]
    assert len(findings) == len(load_catalogue().sources)
