"""The bronze stream counts the rows the extraction sent, and bronze must then hold every one:
the load's "rows in" come from the source's stream, not from what bronze came to hold. An error
that ends the extraction reaches the load as itself, not as the writer's."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pytest

from catalogue import load_catalogue
from pipeline.bronze import BronzeMismatch, Sent, bronze_stream
from pipeline.names import ROW
from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

COLUMNS = ["ma_chi_tra", "ma_doi_tuong", "ky_chi_tra", "so_tien", "ngay_chi_tra", "ngay_cap_nhat"]


def _batch(first: int, rows: int) -> pa.RecordBatch:
    return pa.record_batch({c: [f"{c}-{first + i}" for i in range(rows)] for c in COLUMNS})


def test_the_stream_counts_what_the_writer_took():
    ref = load_catalogue().table("welfare.payments")
    sent = Sent()
    stream = bronze_stream(ref, iter([_batch(0, 3), _batch(3, 0), _batch(3, 4)]), "run-1", datetime.now(UTC), sent=sent)
    assert stream is not None
    assert sent.rows == 0  # nothing taken yet
    written = pl.from_arrow(stream.read_all())
    assert sent.rows == written.height == 7
    assert written[ROW].to_list() == list(range(7))
    assert written["ma_chi_tra"].to_list() == [f"ma_chi_tra-{i}" for i in range(7)]


def test_bronze_holding_other_rows_than_were_sent_stops_the_load():
    sent = Sent(rows=24)
    sent.check(24, "bronze.welfare.payments")
    with pytest.raises(BronzeMismatch, match=r"bronze\.welfare\.payments holds 25 rows of this run, the extraction sent 24"):
        sent.check(25, "bronze.welfare.payments")


class _Stalled(Exception):
    """Stands for the extraction's own error (a SourceTimeout, a dropped connection)."""


@pytest.mark.parametrize("error", [_Stalled("no data from the source for 5 s"), KeyboardInterrupt()])
def test_an_error_that_ends_the_extraction_reaches_the_load_as_itself(tmp_path, error):
    """delta-rs, draining the stream, turns what the stream raises into a DeltaError holding a
    traceback as text: a frozen source would read as a storage failure, ctrl-C as a failed run."""
    ref = load_catalogue().table("welfare.payments")
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path)))
    name = TableName("bronze", "welfare", "payments")

    def extraction():
        yield _batch(0, 3)
        yield _batch(3, 4)
        raise error

    sent = Sent()
    stream = bronze_stream(ref, extraction(), "run-1", datetime.now(UTC), sent=sent)
    with pytest.raises(type(error)) as raised, sent.writing():
        warehouse.replace_run(name, stream, "run-1")
    assert raised.value is error
    assert sent.rows == 7
    assert not warehouse.exists(name)  # nothing was committed


def test_a_writer_error_of_its_own_is_left_as_it_is(tmp_path):
    sent = Sent()
    with pytest.raises(ValueError, match="the writer's own"), sent.writing():
        raise ValueError("the writer's own")
