"""Schema drift with declared behaviour (issue 11, defect 8), against a real PostgreSQL table:
a retyped column stops the load in one line naming it; an added column lands in bronze; a load
whose dates all turn to garbage, or whose source lost most of its rows, is not promoted."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from catalogue.loader import TableRef
from connectors.errors import SourceSchemaError
from pipeline.guards import PromotionRefused
from pipeline.names import DELETED, LoadNames
from tests.fixtures.welfare import BASE, run
from warehouse.committed import LOADS

pytestmark = pytest.mark.slow  # starts PostgreSQL

LATER = BASE + dt.timedelta(days=3)


def versions(ref, warehouse) -> dict[str, int | None]:
    names = LoadNames.of(ref)
    return {str(name): warehouse.version(name) for name in (names.bronze, names.silver, names.quarantine, LOADS)}


def live(ref, warehouse) -> int:
    silver = warehouse.read(LoadNames.of(ref).silver)
    return silver.filter(~pl.col(DELETED).fill_null(False)).height


def test_a_retyped_column_stops_the_load_naming_it(payments_source):
    server, table, ref, warehouse = payments_source
    server.execute(f'ALTER TABLE "{table}" ALTER COLUMN so_tien TYPE bigint USING so_tien::bigint')
    run(ref, warehouse, 1, full_refresh=True)
    before = versions(ref, warehouse)
    server.execute(f'ALTER TABLE "{table}" ALTER COLUMN so_tien TYPE text')
    server.execute(f"UPDATE \"{table}\" SET so_tien = 'xxE1DDFE', ngay_cap_nhat = '{LATER:%Y-%m-%d %H:%M:%S}' WHERE ma_chi_tra = 'CT000007'")

    with pytest.raises(SourceSchemaError, match=r"source 'welfare'.*so_tien: int64 → string") as caught:
        run(ref, warehouse, 2, full_refresh=True)

    assert not caught.value.retryable and "\n" not in str(caught.value)
    assert versions(ref, warehouse) == before


def test_an_added_column_lands_in_bronze_and_is_logged(payments_source):
    server, table, ref, warehouse = payments_source
    run(ref, warehouse, 1, full_refresh=True)
    server.execute(f'ALTER TABLE "{table}" ADD COLUMN ghi_chu text')
    server.execute(f"UPDATE \"{table}\" SET ghi_chu = 'đã xác minh', ngay_cap_nhat = '{LATER:%Y-%m-%d %H:%M:%S}' WHERE ma_chi_tra = 'CT000003'")
    said: list[str] = []

    report = run(ref, warehouse, 2, full_refresh=True, progress=said.append)

    assert report.balanced and report.extracted == 200
    assert any("new source column(s) ghi_chu" in line for line in said)
    bronze = warehouse.read(LoadNames.of(ref).bronze).filter(pl.col("_run_id") == "run-2")
    assert bronze.filter(pl.col("ma_chi_tra") == "CT000003")["ghi_chu"].to_list() == ["đã xác minh"]


def test_dates_turned_to_garbage_are_not_promoted(payments_source):
    server, table, ref, warehouse = payments_source
    run(ref, warehouse, 1, full_refresh=True)
    before, live_before = versions(ref, warehouse), live(ref, warehouse)
    server.execute(f"UPDATE \"{table}\" SET ngay_chi_tra = '2026/13/45', ngay_cap_nhat = '{LATER:%Y-%m-%d %H:%M:%S}'")

    with pytest.raises(PromotionRefused, match=r"100% of 200 rows broke an error rule against 0%.*paid_on.required"):
        run(ref, warehouse, 2, full_refresh=True)

    after = versions(ref, warehouse)
    assert after[str(LoadNames.of(ref).silver)] == before[str(LoadNames.of(ref).silver)]
    assert after[str(LOADS)] == before[str(LOADS)]  # no load record: the bronze rows stay unseen
    assert live(ref, warehouse) == live_before


def test_a_source_that_lost_most_of_its_rows_tombstones_nothing(payments_source):
    server, table, ref, warehouse = payments_source
    run(ref, warehouse, 1, full_refresh=True)
    server.execute(f"DELETE FROM \"{table}\" WHERE ma_chi_tra >= 'CT000050'")  # 150 of 200 gone

    with pytest.raises(PromotionRefused, match=r"150 of 200 live keys are no longer in the source"):
        run(ref, warehouse, 2)

    assert live(ref, warehouse) == 200
    server.execute(f"DELETE FROM \"{table}\" WHERE ma_chi_tra >= 'CT000040'")
    guarded = ref.table.model_copy(update={"max_deleted_share": 1.0})  # the deletions are real
    report = run(TableRef(ref.source, guarded, ref.entity), warehouse, 3)
    assert report.deleted == 160 and live(ref, warehouse) == 40
