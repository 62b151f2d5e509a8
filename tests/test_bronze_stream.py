"""The bronze stream counts the rows the extraction sent, and bronze must then hold every one:
the load's "rows in" come from the source's stream, not from what bronze came to hold."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pytest

from catalogue import load_catalogue
from pipeline.bronze import BronzeMismatch, Sent, bronze_stream
from pipeline.names import ROW

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
