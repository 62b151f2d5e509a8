"""Project 06's data standard: correct, complete, clean, live (đúng, đủ, sạch, sống).

Measured per ministry table × 2025 province × day into `gold.kpi.data_standard`, from what the
catalogue declares (each table's `standard:` block) and what the warehouse holds. Aggregates only:
counts and shares, never a record. Definitions: docs/data-standard.md.

- correct:  of the live records linked to the register (the register itself excepted: it is the
            reference), the share whose identifying fields all agree with the register, and per
            field the share that agrees where both hold a value;
- complete: of the declared important columns, the share of cells present (not null, not blank);
- clean:    of the rows the table's latest load judged (exact copies apart), the share that broke
            no error rule; warnings do not count against it (they are shown as `rows_warned`);
- live:     hours between the source's newest watermark and the load that read it, and the share
            of live records whose watermark is within the table's declared freshness.

A record's province is its linked person's registered birth province (2025 list), as in
gold.kpi.linkage_by_province; records not linked are under `unlinked`, and each table also has an
`all` row (the table as a whole, since shares do not add up across provinces).

Over 300 lines because the four measures share one frame of live records and one grouping
(measure_table, one small function per criterion below it), and the readers of what they need
(latest load, live silver, judged rows) sit beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

import environment
from catalogue import Catalogue, Entity, TableRef
from catalogue.models import PERSON_ROLES
from pipeline.link import LINK_METHOD, LINKED_METHODS, PERSON_ID
from pipeline.mapping import canonical_expressions, watermark_column
from pipeline.names import DELETED, WARNINGS, LoadNames
from warehouse.committed import LOADS
from warehouse.tables import RUN_ID, TableName, Warehouse

DATA_STANDARD = TableName("gold", "kpi", "data_standard")
PROVINCE = "province_2025"
UNLINKED, ALL = "unlinked", "all"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")  # ministries stamp their rows in local time
# The identifying roles, as the gold columns name them (pct_correct_<label>).
ROLE_LABELS = {"name_key": "name", "date_of_birth": "date_of_birth", "sex": "sex", "birth_province": "birth_province"}
PASSED = "_passed"
TODAY_ENV = "NDC_TODAY"  # the date validation treats as today: measurements follow it (reproducible runs)


@dataclass(frozen=True)
class Register:
    """The register's identities: `_person_id`, the 2025 province, and one column per role."""

    people: pl.DataFrame
    entity: Entity

    @classmethod
    def from_silver(cls, citizens: pl.DataFrame, entity: Entity) -> Register:
        keys = entity.person
        assert keys is not None, f"entity {entity.name} declares no person keys"
        roles = {role: getattr(keys, role) for role in PERSON_ROLES if getattr(keys, role)}
        people = (
            citizens.filter(pl.col(PERSON_ID).is_not_null())
            .select(
                PERSON_ID,
                pl.col("birth_province_2025").alias(PROVINCE),
                *(pl.col(column).cast(pl.String).alias(role) for role, column in roles.items()),
            )
            .unique(PERSON_ID, keep="first")
        )
        return cls(people, entity)


def identifying_roles(ref: TableRef, register: Entity) -> list[str]:
    """The roles compared with the register: declared, or every role both entities map."""
    if ref.entity.person is None or ref.entity.population_register:
        return []
    declared = ref.table.standard.identifying if ref.table.standard else None
    mapped = [
        r for r in PERSON_ROLES
        if getattr(ref.entity.person, r) and register.person is not None and getattr(register.person, r)
    ]
    return [r for r in (declared or mapped) if r in mapped]


@dataclass(frozen=True)
class LatestLoad:
    run_id: str | None  # the latest load that read rows (clean is measured on its rows)
    finished_at: datetime | None  # when the newest watermark was read
    newest_watermark: str | None  # the table's high-water mark


def _share(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then((100 * numerator / denominator).round(2)).otherwise(None)


def _with_province(frame: pl.DataFrame, register: Register) -> pl.DataFrame:
    provinces = register.people.select(PERSON_ID, PROVINCE)
    return frame.join(provinces, on=PERSON_ID, how="left").with_columns(pl.col(PROVINCE).fill_null(UNLINKED))


def measure_table(
    ref: TableRef,
    *,
    live: pl.DataFrame,
    judged: pl.DataFrame,
    register: Register,
    latest: LatestLoad,
    measured_at: datetime,
) -> pl.DataFrame:
    """One table's four criteria per province (and `all`).

    `live`: silver's live rows (canonical columns, `_person_id`, `_link_method`); `judged`: the
    rows the latest load judged, one per row, with `_person_id` (may be null), `_passed` (broke no
    error rule) and `_warnings`.
    """
    standard = ref.table.standard
    important = [c for c in (standard.important if standard else []) if c in live.columns]
    roles = identifying_roles(ref, register.entity)
    freshness = standard.freshness if standard else None

    records = _with_province(_with_person_column(live), register)
    compared = _compared_with_register(records, register, ref, roles)
    records = _with_present_cells(records, important)
    records = _with_freshness(records, watermark_column(ref.table), freshness, measured_at)
    judged = _with_province(_with_person_column(judged), register)
    counts = pl.concat(
        [_counts_by(by, records, compared, judged, roles) for by in (pl.col(PROVINCE), pl.lit(ALL))],
        how="vertical_relaxed",
    )
    count = lambda name: pl.col(name).fill_null(0)  # noqa: E731 - a column absent for a province is zero
    out = counts.select(
        pl.lit(measured_at.astimezone(VIETNAM).date()).alias("day"),
        pl.lit(measured_at.astimezone(UTC)).alias("measured_at"),
        pl.lit(ref.source.ministry).alias("ministry"),
        pl.lit(ref.source.name).alias("source"),
        pl.lit(ref.table.name).alias("table"),
        PROVINCE,
        count("records").cast(pl.Int64).alias("records"),
        count("records_linked").cast(pl.Int64).alias("records_linked"),
        count("records_correct").cast(pl.Int64).alias("records_correct"),
        _share(count("records_correct"), count("records_linked")).alias("pct_correct"),
        *(
            (_share(count(f"_ok_{r}"), count(f"_cmp_{r}")) if r in roles else pl.lit(None, pl.Float64)).alias(
                f"pct_correct_{label}"
            )
            for r, label in ROLE_LABELS.items()
        ),
        pl.lit(len(important), pl.Int64).alias("important_columns"),
        _share(count("_cells_present"), count("records") * len(important)).alias("pct_complete"),
        count("rows_judged").cast(pl.Int64).alias("rows_judged"),
        count("rows_clean").cast(pl.Int64).alias("rows_clean"),
        count("rows_warned").cast(pl.Int64).alias("rows_warned"),
        _share(count("rows_clean"), count("rows_judged")).alias("pct_clean"),
        pl.lit(freshness.total_seconds() / 86400 if freshness else None, pl.Float64).alias("freshness_days"),
        count("records_live").cast(pl.Int64).alias("records_live"),
        _share(count("records_live"), count("_dated")).alias("pct_live"),
        pl.lit(_lag_hours(latest), pl.Float64).alias("lag_hours"),
    )
    return out.with_columns(pl.col(c).cast(pl.Float64) for c in out.columns if c.startswith("pct_")).sort(
        pl.col(PROVINCE) == ALL, PROVINCE
    )


def _with_person_column(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `_person_id`, null where the table links no one."""
    return frame if PERSON_ID in frame.columns else frame.with_columns(pl.lit(None, pl.String).alias(PERSON_ID))


def _compared_with_register(
    records: pl.DataFrame, register: Register, ref: TableRef, roles: list[str]
) -> pl.DataFrame:
    """Correct: the records linked to the register (by a method other than the register itself)
    beside the register's values, role by role: `_cmp_<role>` where both hold a value,
    `_ok_<role>` where they also agree, `_correct` where every compared role agrees."""
    keys = ref.entity.person
    compared = records.filter(
        pl.col(LINK_METHOD).is_in([m for m in LINKED_METHODS if m != "register"]).fill_null(False)
        if LINK_METHOD in records.columns and roles
        else pl.lit(False)
    )
    reference = register.people.select(PERSON_ID, *(pl.col(r).alias(f"_register_{r}") for r in roles))
    compared = compared.join(reference, on=PERSON_ID, how="left")
    agree_columns, compared_columns = [], []
    for role in roles:
        mine, theirs = pl.col(getattr(keys, role)).cast(pl.String), pl.col(f"_register_{role}")
        both = mine.is_not_null() & theirs.is_not_null()
        compared_columns.append(both.alias(f"_cmp_{role}"))
        agree_columns.append((both & (mine == theirs)).alias(f"_ok_{role}"))
    compared = compared.with_columns(*compared_columns, *agree_columns)
    all_agree = pl.all_horizontal(
        [~pl.col(f"_cmp_{r}") | pl.col(f"_ok_{r}") for r in roles] or [pl.lit(True)]
    )
    return compared.with_columns(all_agree.alias("_correct"))


def _with_present_cells(records: pl.DataFrame, important: list[str]) -> pl.DataFrame:
    """Complete: `_present`, how many of the important columns each record holds (not null, not blank)."""
    present = [
        (pl.col(c).is_not_null() & (pl.col(c).cast(pl.String).str.strip_chars() != "").fill_null(False)).cast(pl.Int64)
        for c in important
    ]
    return records.with_columns((pl.sum_horizontal(present) if present else pl.lit(0)).alias("_present"))


def _with_freshness(
    records: pl.DataFrame, stamp: str | None, freshness: timedelta | None, measured_at: datetime
) -> pl.DataFrame:
    """Live: `_fresh` where the record's watermark is within the declared freshness (ministries'
    stamps are local time), `_dated` where freshness can be judged at all (the table declares a
    freshness and its watermark column is among the records')."""
    if stamp and freshness is not None and stamp in records.columns:
        cutoff = (measured_at.astimezone(VIETNAM) - freshness).replace(tzinfo=None)
        fresh = pl.col(stamp).cast(pl.Datetime("us"), strict=False) >= cutoff
        return records.with_columns(fresh.fill_null(False).alias("_fresh"), pl.lit(True).alias("_dated"))
    return records.with_columns(pl.lit(False).alias("_fresh"), pl.lit(False).alias("_dated"))


def _counts_by(
    by: pl.Expr, records: pl.DataFrame, compared: pl.DataFrame, judged: pl.DataFrame, roles: list[str]
) -> pl.DataFrame:
    """The four criteria's counts, one row per value of `by` (the province, or `all`); a province
    missing from one of the frames gets nulls there."""
    by = by.alias(PROVINCE)
    base = records.group_by(by).agg(
        pl.len().alias("records"),
        pl.col("_present").sum().alias("_cells_present"),
        pl.col("_fresh").sum().alias("records_live"),
        pl.col("_dated").sum().alias("_dated"),
    )
    correct = compared.group_by(by).agg(
        pl.len().alias("records_linked"),
        pl.col("_correct").sum().alias("records_correct"),
        *(pl.col(f"_cmp_{r}").sum().alias(f"_cmp_{r}") for r in roles),
        *(pl.col(f"_ok_{r}").sum().alias(f"_ok_{r}") for r in roles),
    )
    clean = judged.group_by(by).agg(
        pl.len().alias("rows_judged"),
        pl.col(PASSED).sum().alias("rows_clean"),
        (pl.col(PASSED) & (pl.col(WARNINGS).list.len() > 0).fill_null(False)).sum().alias("rows_warned"),
    )
    provinces = pl.concat([f.select(PROVINCE) for f in (base, correct, clean)]).unique()
    return (
        provinces.join(base, on=PROVINCE, how="left")
        .join(correct, on=PROVINCE, how="left")
        .join(clean, on=PROVINCE, how="left")
    )


def _lag_hours(latest: LatestLoad) -> float | None:
    if latest.newest_watermark is None or latest.finished_at is None:
        return None
    try:
        newest = datetime.fromisoformat(latest.newest_watermark)
    except ValueError:  # a file name, not a time: a file drop's lag is not measured this way
        return None
    newest = newest if newest.tzinfo else newest.replace(tzinfo=VIETNAM)
    return round((latest.finished_at - newest).total_seconds() / 3600, 2)


# -- reading the warehouse ---------------------------------------------------------------------


def latest_load(warehouse: Warehouse, ref: TableRef) -> LatestLoad:
    if not warehouse.exists(LOADS):
        return LatestLoad(None, None, None)
    mine = (
        warehouse.scan(LOADS)
        .filter((pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name) & pl.col("balanced"))
        .collect()
    )
    reading = mine.filter(pl.col("extracted") > 0).sort("finished_at")
    if not reading.height:
        return LatestLoad(None, None, None)
    newest = reading.sort("watermark_to", nulls_last=False).tail(1)
    last = reading.tail(1)
    return LatestLoad(last[RUN_ID].item(), newest["finished_at"].item(), newest["watermark_to"].item())


def live_silver(warehouse: Warehouse, name: TableName) -> pl.DataFrame:
    rows = warehouse.scan(name)
    if DELETED in rows.collect_schema():
        rows = rows.filter(~pl.col(DELETED).fill_null(False))
    return rows.collect()


def judged_rows(warehouse: Warehouse, ref: TableRef, live: pl.DataFrame, run_id: str | None) -> pl.DataFrame:
    """The latest load's judged rows: its rows still in silver (passed) and in quarantine (failed).
    A quarantined row's person is its personal ID as normalised, if the register holds it."""
    schema = {PERSON_ID: pl.String, PASSED: pl.Boolean, WARNINGS: pl.List(pl.String)}
    if run_id is None:
        return pl.DataFrame(schema=schema)
    # with_columns, not select: literals alone would make one row out of none.
    landed = (
        live.filter(pl.col(RUN_ID) == run_id)
        .with_columns(
            pl.col(PERSON_ID) if PERSON_ID in live.columns else pl.lit(None, pl.String).alias(PERSON_ID),
            pl.lit(True).alias(PASSED),
            pl.col(WARNINGS) if WARNINGS in live.columns else pl.lit([], pl.List(pl.String)).alias(WARNINGS),
        )
        .select(PERSON_ID, PASSED, WARNINGS)
    )
    names = LoadNames.of(ref)
    if not warehouse.exists(names.quarantine):
        return landed.cast(schema)  # type: ignore[arg-type]
    rejected = warehouse.scan(names.quarantine).filter(pl.col(RUN_ID) == run_id)
    keys = ref.entity.person
    person = (
        canonical_expressions(ref.table, ref.entity)[keys.personal_id].alias(PERSON_ID)
        if keys is not None and any(m.to == keys.personal_id for m in ref.table.columns)
        else pl.lit(None, pl.String).alias(PERSON_ID)
    )
    failed = rejected.with_columns(
        person, pl.lit(False).alias(PASSED), pl.lit([], pl.List(pl.String)).alias(WARNINGS)
    ).select(PERSON_ID, PASSED, WARNINGS)
    return pl.concat([landed.cast(schema), failed.collect().cast(schema)])  # type: ignore[arg-type]


def measure(catalogue: Catalogue, warehouse: Warehouse, measured_at: datetime) -> pl.DataFrame:
    """The four criteria of every loaded ministry table (an empty frame before the register loads)."""
    register = register_of(catalogue, warehouse)
    if register is None:
        return pl.DataFrame()
    parts = []
    for ref in catalogue.tables:
        silver = LoadNames.of(ref).silver
        if not warehouse.exists(silver):
            continue
        live = live_silver(warehouse, silver)
        latest = latest_load(warehouse, ref)
        judged = judged_rows(warehouse, ref, live, latest.run_id)
        parts.append(
            measure_table(ref, live=live, judged=judged, register=register, latest=latest, measured_at=measured_at)
        )
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()


def measurement_day(measured_at: datetime) -> date:
    return measured_at.astimezone(VIETNAM).date()


def register_of(catalogue: Catalogue, warehouse: Warehouse) -> Register | None:
    """The register's identities from its silver table, or None before it is loaded."""
    register_ref = next(r for r in catalogue.tables if r.entity.population_register)
    silver = LoadNames.of(register_ref).silver
    if not warehouse.exists(silver):
        return None
    return Register.from_silver(live_silver(warehouse, silver), register_ref.entity)



def measurement_time(environ: dict[str, str] | None = None) -> datetime:
    """Now, or the end of NDC_TODAY in Vietnam when it is set (so demo runs measure reproducibly)."""
    day = environment.settings(environ).today
    if day is None:
        return datetime.now(UTC)
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=VIETNAM).astimezone(UTC)


def write_standard(catalogue: Catalogue, warehouse: Warehouse, measured_at: datetime) -> tuple[pl.DataFrame, int | None]:
    """Measure and write the day's slice of gold.kpi.data_standard; (the rows, Delta version or None)."""
    from warehouse.days import replace_day

    frame = measure(catalogue, warehouse, measured_at)
    if not frame.height:
        return frame, None
    version = replace_day(
        warehouse, DATA_STANDARD, frame.to_arrow(), measurement_day(measured_at),
        description="Project 06 data standard per ministry table, province and day: correct, complete, clean, live",
    )
    return frame, version
