"""docs/adding-a-source.md, run as written: its three files (entity, source, suite) are read from the
page itself, dropped into a copy of the catalogue that NDC_CATALOGUE_DIR / NDC_SUITES_DIR point at,
and loaded end to end from a real PostgreSQL. No Python is added for the new ministry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from catalogue import CATALOGUE_DIR, Catalogue, CatalogueError, load_catalogue
from pipeline.load import load_table
from pipeline.names import RULES, WARNINGS, LoadNames
from quality.suites import SUITES_DIR, suites_dir
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-source.md"
KEY = "transport.driving_licences"
TODAY = dt.date(2026, 11, 1)
SUITES_PREFIX = "quality/gx/expectations/"
CATALOGUE_PREFIX = "catalogue/"

# A numbered heading naming a file in backticks, then (after prose) the first fenced block below it.
_FILE_BLOCK = re.compile(
    r"^## \d+\..*?`(?P<path>[^`]+\.(?:yml|json))`.*?^```\w*\n(?P<body>.*?)^```", re.M | re.S
)


def documented_files() -> dict[str, str]:
    """The files the page tells an engineer to write: {repository path: contents}."""
    return {match["path"]: match["body"] for match in _FILE_BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def suite_rule(suite: dict, expectation_type: str) -> str:
    """The rule id the documented suite gives an expectation type (so renaming it cannot break the test)."""
    return next(e["meta"]["rule_id"] for e in suite["expectations"] if e["type"] == expectation_type)


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A copy of the shipped catalogue and suites plus the page's three files, selected by environment."""
    root, suites = tmp_path / "config" / "catalogue", tmp_path / "config" / "suites"
    shutil.copytree(CATALOGUE_DIR / "entities", root / "entities")
    shutil.copytree(CATALOGUE_DIR / "sources", root / "sources")
    shutil.copytree(SUITES_DIR, suites)
    files = documented_files()
    for path, body in files.items():
        if path.startswith(SUITES_PREFIX):
            target = suites / path.removeprefix(SUITES_PREFIX)
        else:
            target = root / path.removeprefix(CATALOGUE_PREFIX)
        assert not target.exists(), f"{path} would overwrite a shipped file"
        target.write_text(body, encoding="utf-8")
    monkeypatch.setenv("NDC_CATALOGUE_DIR", str(root))
    monkeypatch.setenv("NDC_SUITES_DIR", str(suites))
    return files


def licence(number: int, personal_id: str, licence_class: str) -> dict[str, str]:
    """One row as the ministry's giay_phep_lai_xe holds it: text columns, Vietnamese dates."""
    return {
        "so_gplx": f"79{number:010d}",
        "so_cccd": personal_id,
        "ho_ten": f"Nguyễn Văn Số {number}",
        "ngay_sinh": "15/03/1985",
        "hang": licence_class,
        "ngay_cap": "02/06/2020",
        "ma_tinh": "79",
        "ngay_cap_nhat": f"2026-10-{number:02d} 08:00:00",
    }


CLEAN = [licence(1, "079085012345", "B2"), licence(2, "001090054321", "a1"), licence(3, "079185000777", "C")]
MALFORMED_ID = licence(4, "07908501234X", "B2")
UNKNOWN_CLASS = licence(5, "079085099999", "Z9")


def test_the_page_gives_exactly_the_three_files():
    assert sorted(documented_files()) == [
        "catalogue/entities/driving_licence.yml",
        "catalogue/sources/transport.yml",
        "quality/gx/expectations/driving_licence.json",
    ]


def test_the_catalogue_from_the_environment_accepts_the_new_ministry(configured):
    catalogue = load_catalogue()  # no arguments: NDC_CATALOGUE_DIR and NDC_SUITES_DIR decide
    ref = catalogue.table(KEY)
    assert ref.entity.name == "driving_licence" and ref.table.table == "giay_phep_lai_xe"
    assert ref.source.connection.kind == "sql"
    assert ref.source.connection.settings == {"url": "${NDC_TRANSPORT_URL}"}  # no secret in the file
    shipped = {"population.citizens", "welfare.payments"}
    assert shipped < {r.key for r in catalogue.tables}


def test_the_folders_are_read_when_called_not_when_imported(tmp_path, monkeypatch):
    monkeypatch.delenv("NDC_SUITES_DIR", raising=False)
    assert suites_dir() == SUITES_DIR
    monkeypatch.setenv("NDC_SUITES_DIR", str(tmp_path))
    assert suites_dir() == tmp_path
    monkeypatch.setenv("NDC_CATALOGUE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(CatalogueError, match="NDC_CATALOGUE_DIR names no folder"):
        load_catalogue()


def test_assets_are_built_for_the_new_table(configured):
    from assets.ministries import asset_key, ministry_assets

    catalogue: Catalogue = load_catalogue()
    names = LoadNames.of(catalogue.table(KEY))
    keys = {key for assets in ministry_assets(catalogue) for key in assets.keys}
    assert {asset_key(names.bronze), asset_key(names.quarantine), asset_key(names.silver)} <= keys


@pytest.mark.slow
def test_a_load_from_postgres_balances_quarantines_and_flags(
    configured,
    postgres_server,
    tmp_path,
    monkeypatch,
):
    suite = json.loads(configured["quality/gx/expectations/driving_licence.json"])
    ref = load_catalogue().table(KEY)
    postgres_server.load_table(ref.table.table, [*CLEAN, MALFORMED_ID, UNKNOWN_CLASS])
    monkeypatch.setenv("NDC_TRANSPORT_URL", postgres_server.url)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))

    report = load_table(ref, warehouse, run_id="run-transport-1", today=TODAY)

    assert report.balanced and report.extracted == 5
    assert (report.landed, report.quarantined, report.deduplicated) == (4, 1, 0)
    names = LoadNames.of(ref)
    quarantine = warehouse.read(names.quarantine)
    assert quarantine["so_gplx"].to_list() == [MALFORMED_ID["so_gplx"]]  # original values kept
    personal_id_rule = suite_rule(suite, "expect_column_values_to_be_valid_personal_id")
    assert quarantine[RULES].to_list() == [[personal_id_rule]]
    silver = warehouse.read(names.silver).sort("licence_no")
    assert silver["licence_no"].to_list() == sorted(row["so_gplx"] for row in [*CLEAN, UNKNOWN_CLASS])
    assert silver["licence_class"].to_list() == ["B2", "A1", "C", "Z9"]  # `parse: upper` applied
    warned = silver.filter(pl.col(WARNINGS).list.len() > 0)
    assert warned["licence_no"].to_list() == [UNKNOWN_CLASS["so_gplx"]]
    assert warned[WARNINGS].to_list() == [[suite_rule(suite, "expect_column_values_to_be_in_set")]]
