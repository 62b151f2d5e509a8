"""Nightly incremental sync against a real PostgreSQL: inserts, updates, deletes, late rows, failures.

After any sequence of source changes and loads, silver's live rows equal the source snapshot.
"""

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from catalogue.loader import TableRef
from connectors.sql import SqlConnector
from pipeline.cursor import incremental_since
from pipeline.names import DELETED, LoadNames
from tests.fixtures import welfare
from tests.fixtures.welfare import BASE, payment, run
from warehouse.committed import LOADS

pytestmark = pytest.mark.slow  # starts PostgreSQL


def insert(server, table_name: str, rows: list[dict[str, object]]) -> None:
    """Add rows to the source table (the fixture's load_table would recreate it)."""
    columns = list(rows[0])
    server.copy_rows(table_name, columns, [tuple(row[c] for c in columns) for row in rows])


def live_silver(ref, warehouse) -> dict[str, int]:
    """Live payments with their amounts: the amount is sensitive, so it lives in the table apart."""
    names = LoadNames.of(ref)
    silver = warehouse.read(names.silver).filter(~pl.col(DELETED).fill_null(False))
    amounts = warehouse.read(names.sensitive).filter(~pl.col(DELETED).fill_null(False))
    assert sorted(silver["payment_id"]) == sorted(amounts["payment_id"])  # the two halves agree
    return dict(zip(amounts["payment_id"], amounts["amount_vnd"], strict=True))


def source_snapshot(server, table_name) -> dict[str, int]:
    return {
        key: int(amount) for key, amount in server.execute(f"SELECT ma_chi_tra, so_tien FROM {server.quote(table_name)}")
    }


def test_first_load_then_inserts_updates_and_deletes_match_the_source(payments_source):
    server, table_name, ref, warehouse = payments_source
    first = run(ref, warehouse, 1)
    assert first.extracted == first.landed == 200 and first.balanced
    assert live_silver(ref, warehouse) == source_snapshot(server, table_name)

    later = BASE + dt.timedelta(days=10)
    insert(server, table_name, [payment(i, 7, later) for i in range(200, 210)])  # inserts
    server.execute(
        f"UPDATE \"{table_name}\" SET so_tien = '42', ngay_cap_nhat = '{later:%Y-%m-%d %H:%M:%S}' WHERE ma_chi_tra IN ('CT000001', 'CT000002')"
    )
    server.execute(f"DELETE FROM \"{table_name}\" WHERE ma_chi_tra IN ('CT000003', 'CT000004', 'CT000005')")

    second = run(ref, warehouse, 2)
    # Incremental: only rows from the high-water mark minus the 1-day look-back are read.
    assert second.extracted < 200 and second.balanced
    assert second.deleted == 3
    assert live_silver(ref, warehouse) == source_snapshot(server, table_name)
    tombstones = warehouse.read(LoadNames.of(ref).silver).filter(pl.col(DELETED))
    assert sorted(tombstones["payment_id"]) == ["CT000003", "CT000004", "CT000005"]  # history kept


def test_rows_then_keys_are_read_by_processes_started_ahead_one_connection_at_a_time(payments_source, monkeypatch):
    """One connection of a load's at a time: the source's keys are read only after the rows' stream
    has ended. Each is read by a process started ahead, as the load begins (pipeline/load.py,
    pipeline/deletes.py: SourceKeys); a night with nothing new but a deletion reads the keys with
    theirs too."""
    server, table_name, ref, warehouse = payments_source
    run(ref, warehouse, 1)
    reads: list[tuple[str, str, bool]] = []  # (rows or keys, start or end, by a process started ahead)
    extract = SqlConnector.extract

    def watched(self, request, process=None):
        what = "keys" if request.columns else "rows"
        reads.append((what, "start", process is not None))
        yield from extract(self, request, process)
        reads.append((what, "end", process is not None))

    monkeypatch.setattr(SqlConnector, "extract", watched)
    in_order = [("rows", "start", True), ("rows", "end", True), ("keys", "start", True), ("keys", "end", True)]

    later = BASE + dt.timedelta(days=10)  # past the look-back window of every earlier row
    insert(server, table_name, [payment(500, 7, later)])
    server.execute(f"DELETE FROM \"{table_name}\" WHERE ma_chi_tra = 'CT000003'")
    second = run(ref, warehouse, 2)
    assert second.extracted > 0 and second.deleted == 1 and reads == in_order

    reads.clear()
    server.execute(f"DELETE FROM \"{table_name}\" WHERE ma_chi_tra = 'CT000500'")  # the window's only row
    third = run(ref, warehouse, 3)
    assert third.extracted == 0 and third.deleted == 1 and reads == in_order
    assert live_silver(ref, warehouse) == source_snapshot(server, table_name)


def test_late_rows_inside_the_look_back_window_are_caught_without_duplicates(payments_source):
    server, table_name, ref, warehouse = payments_source
    run(ref, warehouse, 1)
    mark = incremental_since(ref, warehouse)
    late = BASE + dt.timedelta(hours=199) - dt.timedelta(hours=3)  # older than the mark, inside one day
    assert late.strftime("%Y-%m-%d %H:%M:%S") < warehouse.read(LOADS)["watermark_to"].max()
    insert(server, table_name, [payment(999, 5, late)])
    second = run(ref, warehouse, 2)
    assert mark is not None and second.extracted >= 1
    snapshot = source_snapshot(server, table_name)
    assert live_silver(ref, warehouse) == snapshot
    assert warehouse.read(LoadNames.of(ref).silver).height == len(snapshot)


def test_until_alone_reads_everything_before_it_not_from_the_high_water_mark(payments_source):
    """[since, until) with the start open: `ndc sync --until D` once read from the high-water mark
    minus the look-back, an empty window for any D before it, and judged nothing."""
    server, table_name, ref, warehouse = payments_source
    run(ref, warehouse, 1)
    until = (BASE + dt.timedelta(hours=50)).strftime("%Y-%m-%d %H:%M:%S")
    expected = server.execute(f"SELECT count(*) FROM \"{table_name}\" WHERE ngay_cap_nhat < '{until}'")[0][0]
    before = run(ref, warehouse, 2, until=until)
    assert before.extracted == expected > 0 and before.balanced
    assert before.watermark_to < until


def test_a_failure_mid_load_leaves_everything_as_it_was_and_a_rerun_completes(payments_source):
    server, table_name, ref, warehouse = payments_source
    run(ref, warehouse, 1)
    names = LoadNames.of(ref)
    before = {
        "mark": incremental_since(ref, warehouse),
        "versions": {
            layer: warehouse.version(getattr(names, layer)) for layer in ("bronze", "silver", "quarantine")
        },
    }
    insert(
        server, table_name, [payment(i, 9, BASE + dt.timedelta(days=12, minutes=i)) for i in range(300, 400)]
    )
    # The source query fails on one row half-way through the stream (division by zero at the server).
    failing = ref.table.model_copy(
        update={
            "table": None,
            "query": f"SELECT *, 1 / (CASE WHEN ma_chi_tra = 'CT000350' THEN 0 ELSE 1 END) AS boom FROM \"{table_name}\"",
        }
    )
    broken = TableRef(ref.source.model_copy(update={"tables": [failing]}), failing, ref.entity)
    with pytest.raises(Exception, match=r"(?i)division by zero"):
        run(broken, warehouse, 2)
    assert incremental_since(ref, warehouse) == before["mark"]
    assert {
        layer: warehouse.version(getattr(names, layer)) for layer in ("bronze", "silver", "quarantine")
    } == before["versions"]

    rerun = run(ref, warehouse, 3)
    assert rerun.balanced and rerun.landed >= 100
    snapshot = source_snapshot(server, table_name)
    assert live_silver(ref, warehouse) == snapshot
    assert warehouse.read(names.silver).height == len(snapshot)


def test_a_full_refresh_reconciles_against_the_rows_it_read(payments_source):
    server, table_name, ref, warehouse = payments_source
    run(ref, warehouse, 1)
    server.execute(f"DELETE FROM \"{table_name}\" WHERE ma_chi_tra IN ('CT000010', 'CT000011')")
    again = run(ref, warehouse, 2, full_refresh=True)
    assert again.extracted == 198 and again.deleted == 2 and again.balanced
    assert live_silver(ref, warehouse) == source_snapshot(server, table_name)


def test_sensitive_columns_are_stored_apart_from_the_basic_ones(payments_source):
    """`pii: sensitive` columns (the amount paid to a welfare beneficiary) never sit beside the basic
    ones: silver holds the rest, `<table>__sensitive` the key, the version order and the sensitive
    columns; both are MERGEd and tombstoned together."""
    server, table_name, ref, warehouse = payments_source
    run(ref, warehouse, 1)
    names = LoadNames.of(ref)
    assert names.sensitive is not None and str(names.sensitive) == "silver.welfare.payments__sensitive"
    silver, apart = warehouse.read(names.silver), warehouse.read(names.sensitive)
    assert "amount_vnd" not in silver.columns and "amount_vnd" in apart.columns
    assert set(apart.columns) - {"payment_id", "amount_vnd", "updated_at"} <= {
        "_row", "_deleted", "_deleted_at", "_run_id", "_loaded_at"}
    server.execute(f"DELETE FROM \"{table_name}\" WHERE ma_chi_tra = 'CT000005'")
    run(ref, warehouse, 2)
    for name in (names.silver, names.sensitive):
        gone = warehouse.read(name).filter(pl.col("payment_id") == "CT000005")
        assert gone[DELETED].to_list() == [True]


@pytest.mark.parametrize("database", ["postgres_server", "mariadb_server"])
def test_a_source_with_typed_dates_and_timestamps_loads_them_and_syncs_on_them(database, request, tmp_path, monkeypatch):
    """A ministry database whose columns are DATE and TIMESTAMP / DATETIME(6) (microseconds), not
    text: the values land as they are, whatever text format the catalogue declares for them, and
    the typed timestamp is the high-water mark of the next night."""
    server = request.getfixturevalue(database)
    _, table_name, ref, warehouse = welfare.payments_source(server, tmp_path, monkeypatch)

    def typed_payment(i: int, updated: dt.datetime) -> dict[str, object]:
        return payment(i, 1_000 + i, updated) | {
            "ky_chi_tra": dt.date(2026, 10, 1), "ngay_chi_tra": dt.date(2026, 10, 5), "ngay_cap_nhat": updated}

    stamps = [BASE + dt.timedelta(days=i, microseconds=123_456) for i in range(20)]
    server.load_table(table_name, [typed_payment(i, stamp) for i, stamp in enumerate(stamps)])
    assert server.execute(
        "SELECT data_type FROM information_schema.columns "
        f"WHERE table_name = '{table_name}' AND column_name = 'ngay_cap_nhat'"
    ) in ([("timestamp without time zone",)], [("datetime",)])

    first = run(ref, warehouse, 1)
    assert (first.extracted, first.landed, first.quarantined) == (20, 20, 0), first.rule_counts
    silver = warehouse.read(LoadNames.of(ref).silver).sort("payment_id")
    assert silver["updated_at"].to_list() == stamps
    assert set(silver["paid_on"]) == {dt.date(2026, 10, 5)} and set(silver["period"]) == {dt.date(2026, 10, 1)}

    later = stamps[-1] + dt.timedelta(days=3, microseconds=1)
    second = night_after_one_update(server, table_name, ref, warehouse, later, later.isoformat(" "))
    # From the typed mark minus the 1-day look-back, inclusive: the last two days' rows and the updated one.
    assert (second.extracted, second.quarantined) == (3, 0) and second.balanced
    assert live_silver(ref, warehouse) == source_snapshot(server, table_name)


@pytest.mark.parametrize("database", ["postgres_server", "mariadb_server"])
def test_a_source_whose_codes_are_numbers_lands_the_numbers_they_hold(database, request, tmp_path, monkeypatch):
    """A ministry database that keeps its codes in NUMERIC / DECIMAL or DOUBLE columns. connectorx
    reads every NUMERIC, even NUMERIC(12,0), as a decimal of scale 10: payment 100000 was
    "100000.0000000000" in silver, its beneficiary "5000.0" (linking to no "5000"), and a code
    normaliser made 21 digits of it. Now silver holds the numbers, and reconcile finds the key
    deleted at the source among them."""
    server = request.getfixturevalue(database)
    _, table_name, ref, warehouse = welfare.payments_source(server, tmp_path, monkeypatch)
    double = "DOUBLE PRECISION" if server.kind == "postgres" else "DOUBLE"
    server.execute(f"DROP TABLE {server.quote(table_name)}")
    server.execute(
        f"CREATE TABLE {server.quote(table_name)} (ma_chi_tra NUMERIC(12,0), ma_doi_tuong {double}, "
        "ky_chi_tra TEXT, so_tien NUMERIC(15,2), ngay_chi_tra TEXT, ngay_cap_nhat TEXT)"
    )
    server.copy_rows(table_name, list(payment(0, 0, BASE)), [
        (Decimal(100_000 + i), float(5_000 + i % 10), "10/2026", Decimal(f"{1_000_000 + i}.00"), "05/10/2026",
         (BASE + dt.timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S"))
        for i in range(40)
    ])  # fmt: skip

    first = run(ref, warehouse, 1)
    assert (first.extracted, first.landed, first.quarantined) == (40, 40, 0), first.rule_counts
    names = LoadNames.of(ref)
    silver = warehouse.read(names.silver).sort("payment_id")
    assert silver["payment_id"].to_list() == [str(100_000 + i) for i in range(40)]
    assert sorted(set(silver["beneficiary_id"])) == [str(5_000 + k) for k in range(10)]
    assert warehouse.read(names.sensitive).sort("payment_id")["amount_vnd"].to_list() == [1_000_000 + i for i in range(40)]

    server.execute(f"DELETE FROM {server.quote(table_name)} WHERE ma_chi_tra = 100005")
    second = run(ref, warehouse, 2)
    assert second.deleted == 1 and second.balanced
    assert warehouse.read(names.silver).filter(pl.col(DELETED))["payment_id"].to_list() == ["100005"]


def night_after_one_update(server, table_name, ref, warehouse, later: dt.datetime, stamp: str):
    """CT000001 changed at the source at `later` (written `stamp`), then a night: its report,
    once silver holds `later` for it."""
    server.execute(f"UPDATE {server.quote(table_name)} SET so_tien = '42', ngay_cap_nhat = '{stamp}' "
                   "WHERE ma_chi_tra = 'CT000001'")
    night = run(ref, warehouse, 2)
    silver = warehouse.read(LoadNames.of(ref).silver)
    assert silver.filter(pl.col("payment_id") == "CT000001")["updated_at"].to_list() == [later]
    return night


def test_a_timestamp_with_time_zone_lands_in_local_time_and_is_the_mark(payments_source):
    """PostgreSQL's `timestamptz` is read as UTC: silver holds Vietnam's local time (UTC+7), as
    a naive timestamp of the ministry's means, and the next night reads from the mark."""
    server, table_name, ref, warehouse = payments_source
    server.execute(f'ALTER TABLE "{table_name}" ALTER COLUMN ngay_cap_nhat TYPE timestamptz '
                   "USING (ngay_cap_nhat::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')")
    first = run(ref, warehouse, 1)
    assert (first.extracted, first.landed, first.quarantined) == (200, 200, 0), first.rule_counts
    silver = warehouse.read(LoadNames.of(ref).silver).sort("payment_id")
    assert silver["updated_at"].to_list() == [BASE + dt.timedelta(hours=i) for i in range(200)]

    later = BASE + dt.timedelta(days=30)
    second = night_after_one_update(server, table_name, ref, warehouse, later, f"{later:%Y-%m-%d %H:%M:%S}+07")
    # The last day of the first load's 200 hourly rows (the 1-day look-back, inclusive) and the update.
    assert (second.extracted, second.quarantined) == (26, 0) and second.balanced
