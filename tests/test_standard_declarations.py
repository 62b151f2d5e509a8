"""The data standard's declarations and pure pieces (issue 13), without loads: the catalogue's
`standard:` block refused with an actionable line, and the change feed described row by row."""

from __future__ import annotations

import datetime as dt
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from catalogue import CatalogueError, load_catalogue
from catalogue.loader import CATALOGUE_DIR
from catalogue.models import DataStandard
from warehouse.changes import ChangesError, describe, scd2


def test_the_shipped_catalogue_declares_the_standard_of_every_sql_table() -> None:
    catalogue = load_catalogue()
    declared = {ref.key: ref.table.standard for ref in catalogue.tables if ref.table.standard}
    assert "population.citizens" in declared and "social_insurance.insured_persons" in declared
    assert declared["welfare.payments"].freshness == timedelta(days=90)


def test_a_mistake_in_the_standard_block_is_one_line_naming_the_table_and_column(tmp_path: Path) -> None:
    root = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, root)
    source = root / "sources" / "social_insurance.yml"
    text = source.read_text(encoding="utf-8")
    source.write_text(
        text.replace("office_province_legacy], freshness: 365d}", "office_provinces], freshness: 365d}", 1)
        .replace("[social_insurance_code, from_month, employer_code]", "[monthly_salary_vnd]"),
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(root)
    problems = caught.value.problems
    assert any("('insured_persons')" in p and "'office_provinces' is not a column of entity 'insured_person'" in p for p in problems)
    assert any("('contribution_periods')" in p and "'monthly_salary_vnd' is sensitive" in p for p in problems)
    with pytest.raises(ValidationError, match="not a duration"):
        DataStandard.model_validate({"freshness": "a year"})
    with pytest.raises(ValidationError):
        DataStandard.model_validate({"identifying": ["phone"]})  # not a person role


def test_the_change_feed_is_described_as_inserts_updates_with_before_and_after_and_tombstones() -> None:
    def image(key: str, phone: str, deleted: bool, run: str, change: str, version: int) -> dict:
        return {"personal_id": key, "phone": phone, "_deleted": deleted, "_run_id": run,
                "_change_type": change, "_commit_version": version, "_commit_timestamp": None}

    feed = pl.DataFrame([
        image("1", "a", False, "r1", "insert", 0),
        image("2", "b", False, "r1", "insert", 0),
        image("1", "a", False, "r1", "update_preimage", 1),
        image("1", "z", False, "r2", "update_postimage", 1),
        image("2", "b", False, "r1", "update_preimage", 1),  # merged again, unchanged: no change
        image("2", "b", False, "r2", "update_postimage", 1),
        image("2", "b", False, "r2", "update_preimage", 2),
        image("2", "b", True, "r3", "update_postimage", 2),
    ])
    rows = describe(feed, ["personal_id"]).select("version", "change", "key", "column", "before", "after").rows()
    assert rows == [
        (0, "insert", "1", None, None, None),
        (0, "insert", "2", None, None, None),
        (1, "update", "1", "phone", "a", "z"),
        (2, "tombstone", "2", None, None, None),
    ]


def test_scd2_spans_follow_the_tracked_values_and_a_tombstone_ends_the_last() -> None:
    def image(key: str, ward: str, updated: str, deleted: bool, change: str, version: int) -> dict:
        return {"personal_id": key, "residence_ward_legacy": ward, "phone": f"p{version}",
                "updated_at": dt.datetime.fromisoformat(updated), "_deleted": deleted,
                "_change_type": change, "_commit_version": version, "_commit_timestamp": None}

    feed = pl.DataFrame([
        image("1", "00001", "2026-01-01 08:00:00", False, "insert", 0),
        image("1", "00001", "2026-02-01 08:00:00", False, "update_postimage", 1),  # phone only: same span
        image("1", "00004", "2026-03-01 08:00:00", False, "update_postimage", 2),  # moved
        image("2", "26734", "2026-01-05 08:00:00", False, "insert", 0),
        image("2", "26734", "2026-04-01 08:00:00", True, "update_postimage", 3),  # deleted at the source
    ])
    spans = scd2(feed, ["personal_id"], ["residence_ward_legacy"], "updated_at")
    assert spans.select(
        "personal_id", "residence_ward_legacy", pl.col("valid_from").dt.date(), pl.col("valid_to").dt.date()
    ).rows() == [
        ("1", "00001", dt.date(2026, 1, 1), dt.date(2026, 3, 1)),
        ("1", "00004", dt.date(2026, 3, 1), None),
        ("2", "26734", dt.date(2026, 1, 5), dt.date(2026, 4, 1)),
    ]
    with pytest.raises(ChangesError, match="no column"):
        scd2(feed, ["personal_id"], ["ward"], "updated_at")
