"""The live worklist beside quarantine: which records of a ministry are wrong right now, and why.

`quarantine.<source>.<table>` stays the per-run history (each load appends the rows it rejected,
so a re-run of the same window appends them again). `quarantine.<source>.<table>__worklist` is
rebuilt from that history and silver after each sync, so it never grows by re-running:

- one row per source key whose latest failing version has not been followed by a version that
  landed in silver (a later load, or the same load's winning version): `issue = rules`, with the
  rules it broke and the ministry's original values (`record`, JSON);
- one row per live, linked record whose identifying fields disagree with the register (the
  data standard's *correct*): `issue = register`, the ministry's value beside the register's.

A key leaves when a later version lands (or the source deletes it: the tombstone is a later
version). It holds personal data: restricted zone, read with `ndc sql --role restricted`.
Keys missing altogether are tracked by a hash of the row's values, so they too stay one row.
"""

from __future__ import annotations

import polars as pl

from catalogue import Catalogue, TableRef
from pipeline.link import LINK_METHOD, LINKED_METHODS, PERSON_ID
from pipeline.mapping import canonical_expressions
from pipeline.names import LOAD_COLUMNS, RULES, LoadNames
from pipeline.standard import ROLE_LABELS, Register, identifying_roles, live_silver, register_of
from warehouse.committed import LOADS
from warehouse.tables import RUN_ID, TableName, Warehouse

WORKLIST_SUFFIX = "__worklist"
KEY, ISSUE, FINISHED = "record_key", "issue", "_finished_at"
SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "table": pl.String(),
    KEY: pl.String(),
    ISSUE: pl.String(),  # rules | register
    "rules": pl.List(pl.String()),
    "fields": pl.String(),  # register: the identifying fields that disagree
    "ministry_values": pl.String(),
    "register_values": pl.String(),
    "record": pl.String(),  # rules: the ministry's row as sent (its own column names), JSON
    "watermark": pl.String(),
    "detected_at": pl.Datetime("us", "UTC"),
    RUN_ID: pl.String(),
}


def worklist_name(ref: TableRef) -> TableName:
    return TableName("quarantine", ref.domain, f"{ref.table.name}{WORKLIST_SUFFIX}")


def _key_text(columns: list[str]) -> pl.Expr:
    return pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator="|")


def _runs(warehouse: Warehouse, ref: TableRef) -> pl.LazyFrame:
    """The table's committed loads: run id → when it finished (rows of killed loads are not data)."""
    if not warehouse.exists(LOADS):
        return pl.LazyFrame(schema={RUN_ID: pl.String, FINISHED: pl.Datetime("us", "UTC")})
    return (
        warehouse.scan(LOADS)
        .filter((pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name))
        .group_by(RUN_ID)
        .agg(pl.col("finished_at").max().alias(FINISHED))
    )


def rule_items(ref: TableRef, quarantine: pl.LazyFrame, silver: pl.LazyFrame | None, runs: pl.LazyFrame) -> pl.DataFrame:
    """Keys whose latest failing version is not followed by a landed one."""
    keys = ref.entity.primary_key
    raw = [c for c in quarantine.collect_schema().names() if not c.startswith("_")]
    canonical = canonical_expressions(ref.table, ref.entity)
    stamp = ref.table.watermark
    failing = (
        quarantine.join(runs, on=RUN_ID, how="inner")
        .with_columns(*(canonical[k].alias(f"_key_{k}") for k in keys))
        .with_columns(
            pl.when(pl.any_horizontal(pl.col(f"_key_{k}").is_null() for k in keys))
            .then(pl.lit("row:") + pl.struct(raw).hash(seed=3).cast(pl.String))
            .otherwise(_key_text([f"_key_{k}" for k in keys]))
            .alias(KEY),
            (pl.col(stamp).cast(pl.String) if stamp and stamp in raw else pl.lit(None, pl.String)).alias("watermark"),
        )
        .sort(FINISHED, "watermark", nulls_last=False)
        .group_by(KEY)
        .last()
    )
    if silver is not None:
        landed = (
            silver.join(runs, on=RUN_ID, how="inner")
            .select(_key_text(keys).alias(KEY), pl.col(FINISHED).alias("_landed_at"))
            .group_by(KEY)
            .agg(pl.col("_landed_at").max())
        )
        # Closed when a version landed in the failing load itself (it won over the failing one)
        # or in a later load.
        failing = failing.join(landed, on=KEY, how="left").filter(
            pl.col("_landed_at").is_null() | (pl.col("_landed_at") < pl.col(FINISHED))
        )
    return failing.select(
        pl.lit(ref.source.name).alias("source"),
        pl.lit(ref.table.name).alias("table"),
        KEY,
        pl.lit("rules").alias(ISSUE),
        pl.col(RULES).alias("rules"),
        pl.lit(None, pl.String).alias("fields"),
        pl.lit(None, pl.String).alias("ministry_values"),
        pl.lit(None, pl.String).alias("register_values"),
        pl.struct([c for c in raw if c not in LOAD_COLUMNS]).struct.json_encode().alias("record"),
        "watermark",
        pl.col(FINISHED).alias("detected_at"),
        RUN_ID,
    ).collect()


def register_items(ref: TableRef, live: pl.DataFrame, register: Register, runs: pl.DataFrame) -> pl.DataFrame:
    """Live, linked records whose identifying fields disagree with the register's, field by field."""
    roles = identifying_roles(ref, register.entity)
    if not roles or LINK_METHOD not in live.columns:
        return pl.DataFrame(schema=SCHEMA)
    person = ref.entity.person
    assert person is not None
    linked = live.filter(pl.col(LINK_METHOD).is_in([m for m in LINKED_METHODS if m != "register"]).fill_null(False))
    reference = register.people.select(PERSON_ID, *(pl.col(r).alias(f"_register_{r}") for r in roles))
    joined = linked.join(reference, on=PERSON_ID, how="inner")
    mismatch = {
        role: pl.col(getattr(person, role)).cast(pl.String).is_not_null()
        & pl.col(f"_register_{role}").is_not_null()
        & (pl.col(getattr(person, role)).cast(pl.String) != pl.col(f"_register_{role}"))
        for role in roles
    }

    def listed(part: callable) -> pl.Expr:  # the disagreeing fields' parts, joined in role order
        return pl.concat_list(
            [pl.when(mismatch[r]).then(part(r)).otherwise(None) for r in roles]
        ).list.drop_nulls()

    stamp = next((m.to for m in ref.table.columns if m.source == ref.table.watermark), None)
    return (
        joined.filter(pl.any_horizontal(mismatch.values()))
        .join(runs, on=RUN_ID, how="left")
        .select(
            pl.lit(ref.source.name).alias("source"),
            pl.lit(ref.table.name).alias("table"),
            _key_text(ref.entity.primary_key).alias(KEY),
            pl.lit("register").alias(ISSUE),
            listed(lambda r: pl.lit(f"register.{ROLE_LABELS[r]}")).alias("rules"),
            listed(lambda r: pl.lit(ROLE_LABELS[r])).list.join("; ").alias("fields"),
            listed(lambda r: pl.col(getattr(person, r)).cast(pl.String)).list.join("; ").alias("ministry_values"),
            listed(lambda r: pl.col(f"_register_{r}")).list.join("; ").alias("register_values"),
            pl.lit(None, pl.String).alias("record"),
            (pl.col(stamp).cast(pl.String) if stamp and stamp in joined.columns else pl.lit(None, pl.String)).alias(
                "watermark"
            ),
            pl.col(FINISHED).alias("detected_at"),
            RUN_ID,
        )
    )


def build_worklist(ref: TableRef, warehouse: Warehouse, register: Register | None) -> pl.DataFrame:
    """The table's open items now (see the module's docstring), sorted by key."""
    names = LoadNames.of(ref)
    runs = _runs(warehouse, ref)
    silver = warehouse.scan(names.silver) if warehouse.exists(names.silver) else None
    parts = [pl.DataFrame(schema=SCHEMA)]
    if warehouse.exists(names.quarantine):
        parts.append(rule_items(ref, warehouse.scan(names.quarantine), silver, runs).cast(SCHEMA))  # type: ignore[arg-type]
    if silver is not None and register is not None:
        on_rules = set(parts[-1][KEY].to_list())
        mismatches = register_items(ref, live_silver(warehouse, names.silver), register, runs.collect())
        parts.append(mismatches.filter(~pl.col(KEY).is_in(list(on_rules))).cast(SCHEMA))  # type: ignore[arg-type]
    return pl.concat(parts, how="vertical").sort(KEY, ISSUE)


def write_worklist(ref: TableRef, warehouse: Warehouse, register: Register | None) -> tuple[int, int]:
    """Rebuild the table's worklist in one commit; (open items, Delta version)."""
    items = build_worklist(ref, warehouse, register)
    version = warehouse.overwrite(
        worklist_name(ref),
        items.to_arrow(),
        description=f"records of {ref.key} wrong right now, one row per key (rebuilt after each sync)",
    )
    return items.height, version


def write_worklists(catalogue: Catalogue, warehouse: Warehouse) -> dict[str, int]:
    """Every loaded table's worklist rebuilt; open items per table (`source.table`)."""
    register = register_of(catalogue, warehouse)
    counts = {}
    for ref in catalogue.tables:
        names = LoadNames.of(ref)
        if warehouse.exists(names.silver) or warehouse.exists(names.quarantine):
            counts[ref.key], _ = write_worklist(ref, warehouse, register)
    return counts


def open_items(warehouse: Warehouse, ref: TableRef) -> pl.DataFrame:
    """The table's worklist as last written (empty when none was)."""
    name = worklist_name(ref)
    return warehouse.read(name) if warehouse.exists(name) else pl.DataFrame(schema=SCHEMA)
