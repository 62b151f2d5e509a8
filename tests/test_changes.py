"""The history of every change (issue 13): silver keeps Delta's change data feed, and `ndc changes`
shows an update made at the source between two loads with its old and new values, inserts and
tombstones, in the restricted role only, audited."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from catalogue import load_catalogue
from orchestration.cli import main
from pipeline.names import LoadNames
from tests.fixtures.standard import Ministries, ministries
from warehouse.audit import read_audit
from warehouse.changes import ChangesError, enable_change_feeds, has_change_feed, raw_changes
from warehouse.tables import TableName

__all__ = ["ministries"]

pytestmark = pytest.mark.slow  # two rounds of real loads


def test_ndc_changes_shows_an_update_at_the_source_with_old_and_new_values(
    ministries: Ministries, monkeypatch: pytest.MonkeyPatch
) -> None:
    ministries.load()
    silver = LoadNames.of(ministries.citizens).silver
    assert has_change_feed(ministries.warehouse, silver)  # created with the feed on
    # Between two loads the register changes a phone number and deletes a citizen.
    ministries.execute(
        "population",
        "UPDATE cong_dan SET so_dien_thoai = '0987654321', ngay_cap_nhat = '2026-11-28 09:00:00' WHERE so_dinh_danh = '001085000001'",
    )
    ministries.execute("population", "DELETE FROM cong_dan WHERE so_dinh_danh = '079185000003'")
    ministries.load()

    monkeypatch.setenv("NDC_WAREHOUSE_URI", ministries.warehouse.settings.warehouse_uri)
    runner = CliRunner()
    command = ["changes", str(silver), "--since", "2026-01-01"]
    refused = runner.invoke(main, command)
    assert refused.exit_code == 1 and "restricted" in refused.output
    shown = runner.invoke(main, [*command, "--role", "restricted", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    phone = [r for r in rows if r["change"] == "update" and r["column"] == "phone"]
    assert [(r["key"], r["before"], r["after"]) for r in phone] == [("001085000001", "+84912345678", "+84987654321")]
    assert [r["key"] for r in rows if r["change"] == "tombstone"] == ["079185000003"]
    assert sorted(r["key"] for r in rows if r["change"] == "insert") == ["001085000001", "001190000002", "079185000003"]
    # the unchanged citizen's re-merge is no change of the record
    assert not [r for r in rows if r["change"] == "update" and r["key"] == "001190000002"]

    text = runner.invoke(main, [*command, "--role", "restricted"])
    assert text.exit_code == 0 and "+84987654321" in text.output and "tombstone" in text.output
    trail = read_audit(ministries.warehouse.settings).filter(read_audit(ministries.warehouse.settings)["command"] == "changes")
    assert trail["outcome"].to_list() == ["refused", "ok", "ok"]
    assert any("phone:basic" in c for c in trail["personal_columns"].to_list()[1])


def test_a_silver_table_created_without_the_feed_gets_it_on_the_next_sync(ministries: Ministries) -> None:
    ministries.load()
    silver = LoadNames.of(ministries.insured).silver
    # As an older release created it: the property off.
    ministries.warehouse.table(silver).alter.set_table_properties({"delta.enableChangeDataFeed": "false"})
    with pytest.raises(ChangesError, match="keeps no change data feed"):
        raw_changes(ministries.warehouse, silver, __import__("datetime").datetime(2026, 1, 1))
    assert str(silver) in enable_change_feeds(load_catalogue(), ministries.warehouse)
    assert has_change_feed(ministries.warehouse, silver)
    assert enable_change_feeds(load_catalogue(), ministries.warehouse) == []  # once
    assert TableName("silver", "population", "citizens") != silver
