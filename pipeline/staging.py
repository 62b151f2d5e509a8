"""A load's judged slices staged as Parquet in its private scratch folder (connectors/staging.py):
per slice, the quarantined rows, the landing rows and their sensitive columns; then one stream per
table over all slices, so quarantine and silver are each committed once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from catalogue import TableRef
from connectors.staging import SCRATCH_PARQUET
from pipeline.judge import IS_LANDING, IS_REJECTED
from pipeline.link import LINK_METHOD, PERSON_ID
from pipeline.names import DELETED, DELETED_AT, ERRORS, ROW, RULES, WARNINGS, sensitive_columns
from pipeline.versions import version_order
from warehouse.file_commit import TABLE_PARQUET
from warehouse.tables import RUN_ID, utc_now

# Rows per batch handed to delta-rs from the staged slices: smaller batches cost delta-rs' write
# less memory (writing the bench's 1M-row silver from its staged slices, measured apart: ~720 MiB
# above the process's size with 62,500-row batches and delta-rs' default row groups, ~490 with
# 16,384-row batches and warehouse.tables.STREAMED_WRITES' row groups), at about the same CPU.
STREAM_BATCH_ROWS = 16_384


def stage_slice(
    ref: TableRef,
    raw: pl.DataFrame,
    flagged: pl.DataFrame,
    folder: Path,
    number: int,
    run_id: str,
    started: datetime,
) -> None:
    """One slice, staged: rejected rows with their original values and the rules they broke; landing
    rows in canonical form with their warnings, links and provenance. Exact copies go nowhere."""
    quarantine = (
        raw.with_columns(flagged.select(ERRORS, WARNINGS, IS_REJECTED.alias("_rejected")))
        .filter(pl.col("_rejected"))
        .drop("_rejected")
        .rename({ERRORS: RULES})
        .with_columns(pl.lit(utc_now()).alias("_quarantined_at"))
    )
    landing = flagged.filter(IS_LANDING).select(
        *ref.entity.column_names,
        PERSON_ID,
        LINK_METHOD,
        WARNINGS,
        ROW,
        DELETED,
        pl.when(pl.col(DELETED)).then(pl.lit(started)).alias(DELETED_AT),
        pl.lit(run_id).alias(RUN_ID),
        pl.lit(utc_now()).alias("_loaded_at"),
    )
    quarantine.write_parquet(folder / f"quarantine-{number:05d}.parquet", **SCRATCH_PARQUET)
    if apart := sensitive_columns(ref):
        # The sensitive columns go to their own table with what MERGE needs: key, version order, provenance.
        joining = [*ref.entity.primary_key, *([w] if (w := version_order(ref.table)) and w not in apart else [])]
        provenance = [ROW, DELETED, DELETED_AT, RUN_ID, "_loaded_at"]
        landing.select(*dict.fromkeys([*joining, *apart, *provenance])).write_parquet(
            folder / f"sensitive-{number:05d}.parquet", **TABLE_PARQUET
        )
        landing = landing.drop(apart)
    # In the warehouse's own format: a first load commits these very files (warehouse/file_commit.py).
    landing.write_parquet(folder / f"silver-{number:05d}.parquet", **TABLE_PARQUET)


def staged(folder: Path, kind: str) -> Callable[[], pa.RecordBatchReader]:
    """A fresh reader over the staged slices each time it is called (a commit retry re-reads them)."""
    files = staged_files(folder, kind)

    def reader() -> pa.RecordBatchReader:
        dataset = pads.dataset([str(f) for f in files], format="parquet")
        return pa.RecordBatchReader.from_batches(
            dataset.schema,
            # One file and one batch ahead: the default read-ahead (16 batches of 4 files at once)
            # decoded most of the staged table into memory before delta-rs had written any of it.
            dataset.to_batches(batch_size=STREAM_BATCH_ROWS, batch_readahead=1, fragment_readahead=1),
        )

    return reader


def staged_files(folder: Path, kind: str) -> list[Path]:
    """The staged slices of one kind ("quarantine", "silver", "sensitive"), in slice order."""
    return sorted(folder.glob(f"{kind}-*.parquet"))
