"""The report of one table load and its load record in ops.pipeline.loads: LoadReport, writing
the record (which carries a file drop's cursor), the report of a load with nothing new, the
table's load history (for the promotion guard), and the suite's validation result for Data Docs
(plain JSON-able data: a load never imports Great Expectations).

(Named load_report, not report: pipeline/report.py is the data standard's HTML report.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from catalogue import TableRef
from pipeline.drops import FILES_READ, FILES_READ_TYPE, SHEETS_LEFT, SHEETS_LEFT_TYPE, DropOutcome
from quality.compile import CompiledSuite
from quality.suites import SuiteOutline
from quality.validation import validation_document
from warehouse.committed import LOADS
from warehouse.tables import RUN_ID, Warehouse, utc_now

if TYPE_CHECKING:  # Great Expectations takes seconds to import: only its types are named here
    import great_expectations as gx


@dataclass(frozen=True)
class LoadReport:
    """What one table load did: its counts (extracted = landed + quarantined + deduplicated), window,
    the table versions it wrote and its stage times; `record()` is its row in ops.pipeline.loads."""

    run_id: str
    source: str
    table: str
    entity: str
    extracted: int
    landed: int
    quarantined: int
    deduplicated: int
    warned: int
    linked: int
    ambiguous: int  # landed unlinked because several citizens fit
    deleted: int
    files_quarantined: int
    rule_counts: dict[str, int]
    watermark_from: str | None
    watermark_to: str | None
    bronze_version: int | None
    silver_version: int | None
    quarantine_version: int | None
    started_at: datetime
    finished_at: datetime
    # GE's validation result as its JSON dict (quality/validation.py), stored for Data Docs.
    validation: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    drop: DropOutcome | None = None  # file drops only: what became of each file version
    # Copied from `drop` (from_drop), not read from it: a table fed by several channels adds up
    # every channel's (pipeline/channels.combined), where `drop` is its first channel's.
    files_waiting: int = 0  # still being written: left for a later run
    files_not_regular: int = 0  # symlinks, devices, pipes: never read
    sheets_left: list[str] = field(default_factory=list)  # a workbook's lists or notes, "<file>: <sheets>"
    # Wall seconds per stage (pipeline/stages.py): where this load's time went.
    stages: dict[str, float] = field(default_factory=dict, compare=False)
    # The process's CPU seconds over the same spans (not recorded: for measuring, bench/).
    stages_cpu: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def balanced(self) -> bool:
        return self.extracted == self.landed + self.quarantined + self.deduplicated

    @property
    def key(self) -> str:
        return f"{self.source}.{self.table}"

    def record(self) -> dict[str, object]:
        """The row this load writes to ops.pipeline.loads."""
        return {
            RUN_ID: self.run_id,
            "source": self.source,
            "table": self.table,
            "entity": self.entity,
            "extracted": self.extracted,
            "landed": self.landed,
            "quarantined": self.quarantined,
            "deduplicated": self.deduplicated,
            "warned": self.warned,
            "linked": self.linked,
            "ambiguous": self.ambiguous,
            "deleted": self.deleted,
            "files_quarantined": self.files_quarantined,
            "files_waiting": self.files_waiting,
            "files_not_regular": self.files_not_regular,
            "balanced": self.balanced,
            "watermark_from": self.watermark_from,
            "watermark_to": self.watermark_to,
            "bronze_version": self.bronze_version,
            "silver_version": self.silver_version,
            "quarantine_version": self.quarantine_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def from_drop(drop: DropOutcome | None) -> dict[str, Any]:
    """A report's fields that come from a file drop's outcome (none for other loads)."""
    if drop is None:
        return {}
    return {"drop": drop, "files_waiting": drop.waiting, "files_not_regular": drop.not_regular,
            "sheets_left": drop.sheets_left}


def record_load(warehouse: Warehouse, report: LoadReport) -> int:
    """Write the load record; for a file drop it carries the file versions read (the cursor moves
    here, in the load's last commit) and the workbook sheets left unread. Other loads hold null
    lists of the same types."""
    row = pa.Table.from_pylist([report.record()])
    versions = report.drop.versions() if report.drop is not None else None
    row = row.append_column(pa.field(FILES_READ, FILES_READ_TYPE), pa.array([versions], FILES_READ_TYPE))
    sheets_left = report.sheets_left if report.drop is not None else None
    row = row.append_column(pa.field(SHEETS_LEFT, SHEETS_LEFT_TYPE), pa.array([sheets_left], SHEETS_LEFT_TYPE))
    return warehouse.replace_run(
        LOADS,
        row,
        report.run_id,
        also_matching={"source": report.source, "table": report.table},
        description="one row per table load; extracted = landed + quarantined + deduplicated",
    )


def empty_report(
    ref: TableRef,
    run_id: str,
    started: datetime,
    files_quarantined: int = 0,
    drop: DropOutcome | None = None,
    *,
    deleted: int = 0,
    silver_version: int | None = None,
) -> LoadReport:
    return LoadReport(
        run_id=run_id,
        source=ref.source.name,
        table=ref.table.name,
        entity=ref.entity.name,
        extracted=0,
        landed=0,
        quarantined=0,
        deduplicated=0,
        warned=0,
        linked=0,
        ambiguous=0,
        deleted=deleted,
        files_quarantined=files_quarantined,
        rule_counts={},
        watermark_from=None,
        watermark_to=None,
        bronze_version=None,
        silver_version=silver_version,
        quarantine_version=None,
        started_at=started,
        finished_at=utc_now(),
        **from_drop(drop),
    )


def load_history(ref: TableRef, warehouse: Warehouse) -> pl.DataFrame:
    """The table's recorded loads: their sizes and quarantine counts (for the promotion guard)."""
    columns = ["extracted", "quarantined", "finished_at"]
    if not warehouse.exists(LOADS):
        return pl.DataFrame(schema=dict.fromkeys(columns[:2], pl.Int64) | {"finished_at": pl.Datetime("us", "UTC")})
    mine = (pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name)
    return warehouse.scan(LOADS).filter(mine).select(columns).collect()


def load_validation(
    compiled: CompiledSuite,
    suite: gx.ExpectationSuite | SuiteOutline,
    counts: dict[str, int],
    rows: int,
    run_id: str,
) -> dict[str, Any]:
    """The load's validation result for Data Docs, from the compiled rule counts: GE's JSON shape,
    built from the suite's own JSON without importing Great Expectations (`ndc docs serve`
    renders it when somebody opens it)."""
    return validation_document(compiled, suite, counts, rows, run_id)
