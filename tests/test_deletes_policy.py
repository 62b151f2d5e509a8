"""How deletions reach silver is declared per table, never defaulted: the catalogue refuses a table
that says nothing, and `deletion_findings` (for `ndc check`) names every table that opts out."""

from pathlib import Path

import pytest

from catalogue import load_catalogue
from catalogue.policies import deletion_findings
from tests.test_catalogue import edit, problems_of


def test_every_shipped_table_declares_deletes_and_the_sql_tables_a_two_day_look_back():
    catalogue = load_catalogue()
    for ref in catalogue.tables:
        assert ref.table.deletes in {"soft_delete", "reconcile", "none"}, ref.key
        if ref.source.connection.kind == "sql":
            assert ref.table.deletes != "none", ref.key
            assert ref.table.lookback.days == 2, ref.key  # README: `lookback: 2d` per table


def test_a_table_without_deletes_is_refused_with_the_choices(catalogue_copy: tuple[Path, Path]):
    root, suites = catalogue_copy
    edit(root / "sources/welfare.yml", lambda d: d["tables"][1].pop("deletes"))
    [problem] = problems_of(root, suites)
    assert "welfare.yml" in problem and "tables[1]" in problem
    assert "deletes: reconcile | soft_delete" in problem and "none" in problem


def test_the_old_reconcile_deletes_flag_names_its_replacement(catalogue_copy: tuple[Path, Path]):
    root, suites = catalogue_copy
    edit(
        root / "sources/welfare.yml",
        lambda d: (d["tables"][1].pop("deletes"), d["tables"][1].update(reconcile_deletes=True)),
    )
    [problem] = problems_of(root, suites)
    assert "'deletes: reconcile'" in problem


@pytest.mark.parametrize(
    "change",
    [
        {"deletes": "soft_delete"},  # the flag column missing
        {"soft_delete": {"column": "da_xoa"}},  # a flag column, but deletes says reconcile
    ],
)
def test_soft_delete_needs_its_column_and_the_column_needs_soft_delete(catalogue_copy, change):
    root, suites = catalogue_copy
    edit(root / "sources/welfare.yml", lambda d: d["tables"][1].update(change))
    [problem] = problems_of(root, suites)
    assert "soft_delete" in problem and "go together" in problem


def test_a_file_drop_cannot_reconcile_its_keys(catalogue_copy: tuple[Path, Path]):
    root, suites = catalogue_copy
    edit(root / "sources/civil_status.yml", lambda d: d["tables"][0].update(deletes="reconcile"))
    [problem] = problems_of(root, suites)
    assert "civil_status.yml" in problem and "births" in problem and "deletes: none" in problem


def test_deletion_findings_warn_about_each_table_that_keeps_deleted_rows(catalogue_copy):
    root, suites = catalogue_copy
    shipped = deletion_findings(load_catalogue(root, suites))
    # The shipped choice: civil status drops carry no deletions; every SQL source reconciles.
    assert {where for _, where, _ in shipped} == {
        "civil_status.births",
        "civil_status.marriages",
        "civil_status.deaths",
    }
    assert all(severity == "warning" and "stays live" in message for severity, _, message in shipped)

    edit(root / "sources/welfare.yml", lambda d: d["tables"][1].update(deletes="none"))
    edit(
        root / "sources/business.yml",
        lambda d: d["tables"][0].update(deletes="soft_delete", soft_delete={"column": "da_xoa"}),
    )
    findings = {where: message for _, where, message in deletion_findings(load_catalogue(root, suites))}
    assert "welfare.payments" in findings and "deletes: reconcile" in findings["welfare.payments"]
    assert "business.enterprises" not in findings
    assert len(findings) == 4
