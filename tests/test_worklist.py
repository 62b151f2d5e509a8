"""The live worklist (issue 13): one row per wrong record now, not a log. On the hand-made ministries
of tests/fixtures/standard.py: a re-run of the same window leaves it unchanged while quarantine's
history grows; a record fixed at the source leaves it on the next load; a disagreement with the
register is an item with both values; `ndc sql --role restricted` reads it (and analysts cannot)."""

from __future__ import annotations

import polars as pl
import pytest

from catalogue import load_catalogue
from pipeline.names import LoadNames
from pipeline.worklist import worklist_name, write_worklists
from tests.fixtures.standard import Ministries, ministries
from warehouse.sql import SqlRefused, run_sql

__all__ = ["ministries"]

pytestmark = pytest.mark.slow  # three rounds of real loads


def items(ministries: Ministries) -> pl.DataFrame:
    write_worklists(load_catalogue(), ministries.warehouse)
    return ministries.warehouse.read(worklist_name(ministries.insured)).sort("record_key")


def test_the_worklist_holds_what_is_wrong_now_and_forgets_what_was_fixed(ministries: Ministries) -> None:
    ministries.load(full_refresh=True)
    first = items(ministries)
    assert first["record_key"].to_list() == ["0100000002", "0100000004"]
    nameless = first.row(1, named=True)
    assert (nameless["issue"], nameless["rules"]) == ("rules", ["full_name.required"])
    assert '"ma_so_bhxh":"0100000004"' in nameless["record"]  # the ministry's own values, as sent
    bình = first.row(0, named=True)
    assert (bình["issue"], bình["fields"]) == ("register", "date_of_birth")
    assert (bình["ministry_values"], bình["register_values"]) == ("1990-07-12", "1990-07-02")
    register = ministries.warehouse.read(worklist_name(ministries.citizens))
    assert register["record_key"].to_list() == ["12345"]

    # The same window again: quarantine (the history) gains the rows again, the worklist does not.
    ministries.load(full_refresh=True)
    history = ministries.warehouse.read(LoadNames.of(ministries.insured).quarantine)
    assert history.height == 2
    again = items(ministries)
    assert again.drop("detected_at", "_run_id").equals(first.drop("detected_at", "_run_id"))

    # The ministry fixes both at the source; the next (incremental) load brings later versions.
    ministries.execute(
        "social_insurance",
        "UPDATE nguoi_tham_gia SET ho_ten = 'Trần Thị Bình', ngay_cap_nhat = '2026-11-28 09:00:00' WHERE ma_so_bhxh = '0100000004'",
    )
    ministries.execute(
        "social_insurance",
        "UPDATE nguoi_tham_gia SET ngay_sinh = '1990-07-02', ngay_cap_nhat = '2026-11-28 09:00:00' WHERE ma_so_bhxh = '0100000002'",
    )
    ministries.load()
    assert items(ministries).height == 0
    assert ministries.warehouse.read(LoadNames.of(ministries.insured).quarantine).height == 2  # history stays


def test_the_worklist_is_read_through_ndc_sql_in_the_restricted_role_only(ministries: Ministries) -> None:
    ministries.load()
    write_worklists(load_catalogue(), ministries.warehouse)
    query = (
        "SELECT record_key, rules FROM quarantine.social_insurance.insured_persons__worklist "
        "WHERE issue = 'rules'"
    )
    result = run_sql(query, ministries.warehouse.settings, "restricted")
    assert result.frame["record_key"].to_list() == ["0100000004"]
    with pytest.raises(SqlRefused):
        run_sql(query, ministries.warehouse.settings, "analyst")
