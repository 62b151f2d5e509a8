"""A table's incremental cursor: the high-water mark of its balanced recorded loads
(ops.pipeline.loads), less its look-back window. A file drop's cursor is instead the set of file
versions its loads read (pipeline/drops.py)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from catalogue import TableRef
from warehouse.committed import LOADS
from warehouse.tables import Warehouse


def high_water_mark(ref: TableRef, warehouse: Warehouse) -> str | None:
    """The newest watermark any balanced load of the table read; None before the first load."""
    if ref.table.watermark is None or not warehouse.exists(LOADS):
        return None
    return (
        warehouse.scan(LOADS)
        .filter(
            (pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name) & pl.col("balanced")
        )
        .select(pl.col("watermark_to").max())
        .collect()
        .item()
    )


def incremental_since(ref: TableRef, warehouse: Warehouse) -> str | None:
    """The table's high-water mark minus its look-back window; None before the first load."""
    mark = high_water_mark(ref, warehouse)
    if mark is None or not ref.table.lookback:
        return mark
    try:
        stamp = datetime.fromisoformat(mark)
    except ValueError:  # a watermark that is no timestamp (a file name): no look-back applies
        return mark
    return (stamp - ref.table.lookback).isoformat(sep=" ")

