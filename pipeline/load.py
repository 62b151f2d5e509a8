"""One table load: extract → bronze → normalise → link → validate → quarantine / silver → load record.

Plain Python over the rooms (connectors, normalise, quality, warehouse); Dagster only calls it.
Every load proves its conservation: extracted = landed + quarantined + deduplicated.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl
import pyarrow as pa

from catalogue import TableRef, resolve_settings
from connectors import ExtractRequest, SourceSchemaError, open_connector
from pipeline.duplicates import DUPLICATE, EXACT, classify_duplicates
from pipeline.link import LINK_METHOD, PERSON_ID, PeopleRegister, link_people
from pipeline.mapping import canonical_columns, watermark_column
from warehouse.tables import RUN_ID, TableName, Warehouse, utc_now

ROW = "_row"  # position of the row within its load: ties bronze, quarantine and silver together
INGESTED_AT, SOURCE_TABLE = "_ingested_at", "_source_table"
ERRORS, WARNINGS, RULES = "_errors", "_warnings", "_rules"
LOAD_COLUMNS = (ROW, RUN_ID, INGESTED_AT, SOURCE_TABLE)
LOADS = TableName("ops", "pipeline", "loads")

Progress = Callable[[str], None]
log = logging.getLogger("ndc.pipeline")


@dataclass(frozen=True)
class LoadNames:
    bronze: TableName
    silver: TableName
    quarantine: TableName

    @classmethod
    def of(cls, ref: TableRef) -> LoadNames:
        return cls(
            *(TableName(layer, ref.domain, ref.table.name) for layer in ("bronze", "silver", "quarantine"))
        )  # type: ignore[arg-type]


@dataclass(frozen=True)
class LoadReport:
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
    rule_counts: dict[str, int]
    watermark_from: str | None
    watermark_to: str | None
    bronze_version: int | None
    silver_version: int | None
    quarantine_version: int | None
    started_at: datetime
    finished_at: datetime
    validation: object | None = field(default=None, compare=False, repr=False)  # GE result, for Data Docs

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
            "balanced": self.balanced,
            "watermark_from": self.watermark_from,
            "watermark_to": self.watermark_to,
            "bronze_version": self.bronze_version,
            "silver_version": self.silver_version,
            "quarantine_version": self.quarantine_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def load_table(
    ref: TableRef,
    warehouse: Warehouse,
    *,
    run_id: str,
    today: date,
    since: str | None = None,
    people: PeopleRegister | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Run one table's load and return its report; raises SourceError / CatalogueError before any write."""

    def say(message: str) -> None:
        log.info(message)
        if progress is not None:
            progress(message)

    started = utc_now()
    names = LoadNames.of(ref)
    connector = open_connector(ref.source.name, ref.source.connection.kind, resolve_settings(ref.source))
    connector.check()
    request = ExtractRequest(
        source=ref.source.name,
        table=ref.table.table,
        query=ref.table.query,
        watermark_column=ref.table.watermark,
        since=since,
    )
    say(f"{ref.key}: extracting")
    bronze_version = warehouse.replace_run(
        names.bronze,
        _bronze_stream(ref, connector.extract(request), run_id, started),
        run_id,
        description=f"{ref.source.ministry}: {ref.table.table or 'query'} as extracted",
    )
    raw = warehouse.scan(names.bronze).filter(pl.col(RUN_ID) == run_id).sort(ROW).collect()
    say(f"{ref.key}: {raw.height:,} rows extracted; normalising and validating")

    flagged, compiled, suite = _normalise_and_validate(ref, raw, today, people)
    exact = pl.col(DUPLICATE) == EXACT
    rejected = ~exact.fill_null(False) & (pl.col(ERRORS).list.len() > 0)
    landed_mask = ~exact.fill_null(False) & ~rejected

    quarantine = (
        raw.with_columns(flagged.select(ERRORS, WARNINGS, exact.alias("_exact"), rejected.alias("_rejected")))
        .filter(pl.col("_rejected"))
        .drop("_exact", "_rejected")
        .rename({ERRORS: RULES})
        .with_columns(pl.lit(utc_now()).alias("_quarantined_at"))
    )
    entity_columns = ref.entity.column_names
    silver = flagged.filter(landed_mask).select(
        *entity_columns,
        PERSON_ID,
        LINK_METHOD,
        WARNINGS,
        ROW,
        pl.lit(run_id).alias(RUN_ID),
        pl.lit(utc_now()).alias("_loaded_at"),
    )
    quarantine_version = warehouse.replace_run(
        names.quarantine,
        quarantine.to_arrow(),
        run_id,
        description=f"rows of {ref.key} that broke an error rule, with their original values",
    )
    say(f"{ref.key}: merging {silver.height:,} rows into silver")
    silver_version = warehouse.merge(
        names.silver,
        silver.to_arrow(),
        ref.entity.primary_key,
        run_id,
        newer_wins_on=watermark_column(ref.table),
        description=ref.entity.description,
    )
    counts = _rule_counts(flagged, compiled)
    stamps = raw.get_column(ref.table.watermark).cast(pl.String) if ref.table.watermark else None
    report = LoadReport(
        run_id=run_id,
        source=ref.source.name,
        table=ref.table.name,
        entity=ref.entity.name,
        extracted=raw.height,
        landed=silver.height,
        quarantined=quarantine.height,
        deduplicated=int(flagged.select(exact.fill_null(False).sum()).item()),
        warned=int(silver.select((pl.col(WARNINGS).list.len() > 0).sum()).item()),
        linked=int(silver.select(pl.col(PERSON_ID).is_not_null().sum()).item()) if ref.entity.person else 0,
        rule_counts=counts,
        watermark_from=stamps.min() if stamps is not None else None,  # type: ignore[arg-type]
        watermark_to=stamps.max() if stamps is not None else None,  # type: ignore[arg-type]
        bronze_version=bronze_version,
        silver_version=silver_version,
        quarantine_version=quarantine_version,
        started_at=started,
        finished_at=utc_now(),
        validation=_validation_result(compiled, suite, counts, raw.height, run_id),
    )
    record_load(warehouse, report)
    return report


def record_load(warehouse: Warehouse, report: LoadReport) -> int:
    row = pa.Table.from_pylist([report.record()])
    return warehouse.replace_run(
        LOADS,
        row,
        report.run_id,
        also_matching={"source": report.source, "table": report.table},
        description="one row per table load; extracted = landed + quarantined + deduplicated",
    )


def _bronze_stream(
    ref: TableRef, batches: Iterator[pa.RecordBatch], run_id: str, ingested_at: datetime
) -> pa.RecordBatchReader:
    """The extracted batches plus load columns, checked against the mapping before anything is written."""
    first = next(batches, None)
    if first is None:
        raise SourceSchemaError(
            ref.source.name,
            f"table '{ref.table.table or ref.table.name}' returned no schema",
            "Check the table or query in the catalogue.",
        )
    missing = [c for c in ref.table.source_columns if c not in first.schema.names]
    if missing:
        raise SourceSchemaError(
            ref.source.name,
            f"table '{ref.table.table or ref.table.name}' has no column(s) {', '.join(missing)} "
            f"(it has: {', '.join(first.schema.names)})",
            "Fix the column mapping in the catalogue or ask the ministry about the schema change; nothing was written.",
        )
    schema = (
        first.schema.append(pa.field(ROW, pa.int64()))
        .append(pa.field(RUN_ID, pa.string()))
        .append(pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC")))
        .append(pa.field(SOURCE_TABLE, pa.string()))
    )

    def with_load_columns() -> Iterator[pa.RecordBatch]:
        offset = 0
        for batch in itertools.chain([first], batches):
            n = batch.num_rows
            columns = [
                *batch.columns,
                pa.array(range(offset, offset + n), pa.int64()),
                pa.array([run_id] * n, pa.string()),
                pa.array([ingested_at] * n, pa.timestamp("us", tz="UTC")),
                pa.array([ref.key] * n, pa.string()),
            ]
            offset += n
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, with_load_columns())


def _normalise_and_validate(
    ref: TableRef, raw: pl.DataFrame, today: date, people: PeopleRegister | None
) -> tuple[pl.DataFrame, object, object]:
    from quality.compile import compile_suite, flag_rows
    from quality.suites import load_suite

    suite = load_suite(ref.entity.suite)
    compiled = compile_suite(suite, today=today)
    source_columns = [c for c in raw.columns if c not in LOAD_COLUMNS]
    canonical = classify_duplicates(
        raw.lazy().select(
            *canonical_columns(ref.table, ref.entity), ROW, pl.struct(source_columns).alias("_raw")
        ),
        keys=ref.entity.primary_key,
        raw_columns=["_raw"],
        watermark=watermark_column(ref.table),
    ).drop("_raw")
    canonical = link_people(canonical, ref.entity, people).collect()
    # The suite judges one version per key: duplicates were decided above by the declared rule,
    # and judging them again would make the winning version "not unique".
    is_duplicate = pl.col(DUPLICATE).is_not_null()
    judged = flag_rows(canonical.filter(~is_duplicate), compiled)
    no_rules = pl.lit([], pl.List(pl.String))
    decided = canonical.filter(is_duplicate).with_columns(
        pl.when(pl.col(DUPLICATE) == EXACT)
        .then(no_rules)
        .otherwise(pl.concat_list(pl.col(DUPLICATE)))
        .alias(ERRORS),
        no_rules.alias(WARNINGS),
    )
    flagged = (
        pl.concat([judged, decided], how="vertical")
        .sort(ROW)
        .with_columns(pl.concat_list(ERRORS, "_link_errors").list.unique(maintain_order=True).alias(ERRORS))
        .drop("_link_errors")
    )
    return flagged, compiled, suite


def _rule_counts(flagged: pl.DataFrame, compiled: object) -> dict[str, int]:
    counts = (
        flagged.select(pl.concat_list(ERRORS, WARNINGS).alias("rule"))
        .explode("rule")
        .drop_nulls()
        .group_by("rule")
        .len()
    )
    return {row["rule"]: int(row["len"]) for row in counts.iter_rows(named=True)}


def _validation_result(
    compiled: object, suite: object, counts: dict[str, int], rows: int, run_id: str
) -> object:
    from quality.compile import validation_result

    return validation_result(compiled, suite, counts, rows, run_id)
