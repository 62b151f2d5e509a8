"""Score what the pipeline did against the demo's ground truth (the pipeline never reads it).

Per table: quarantine precision and recall (rows quarantined that should have been, and rows
quarantined that should not), recall per injected defect, and linkage: records linked to the right
person, to a wrong person (must be zero), or left unlinked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from catalogue import Catalogue, TableRef
from pipeline.link import PERSON_ID
from pipeline.load import LOADS, ROW, LoadNames
from warehouse.tables import RUN_ID, Warehouse

QUARANTINE_OUTCOMES = ("quarantine", "superseded")


@dataclass(frozen=True)
class TableScore:
    table: str
    rows: int
    should_quarantine: int
    quarantined: int
    true_positives: int
    linkable: int
    linked_right: int
    linked_wrong: int
    unlinked: int
    defect_recall: dict[str, float]

    @property
    def precision(self) -> float:
        return self.true_positives / self.quarantined if self.quarantined else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.should_quarantine if self.should_quarantine else 1.0

    @property
    def link_rate(self) -> float:
        return self.linked_right / self.linkable if self.linkable else 1.0


def _raw_key(ref: TableRef) -> pl.Expr:
    sources = [next(m.source for m in ref.table.columns if m.to == key) for key in ref.entity.primary_key]
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in sources], separator="|").alias(
        "key"
    )


def _watermark(ref: TableRef) -> pl.Expr:
    column = ref.table.watermark
    return (pl.col(column).cast(pl.String) if column else pl.lit(None, pl.String)).alias("watermark")


def score_table(
    ref: TableRef, truth: pl.DataFrame, warehouse: Warehouse, registered: pl.Series | None = None
) -> TableScore:
    """`registered`: the people whose register record should land; only they can be linked to."""
    names = LoadNames.of(ref)
    if registered is not None and not ref.entity.population_register:
        # A CMND resolves only through a register record that landed: where the person's own
        # register record is (rightly) quarantined, the CMND cannot be resolved and must be quarantined.
        unresolvable = pl.col("defects").list.contains("cmnd_instead_of_id") & ~pl.col("person_id").is_in(
            registered.implode()
        )
        truth = truth.with_columns(
            pl.when(unresolvable & (pl.col("expected") == "land"))
            .then(pl.lit("quarantine"))
            .otherwise("expected")
            .alias("expected")
        )
    run_id = _latest_run(ref, warehouse)
    quarantined = (
        warehouse.scan(names.quarantine)
        .filter(pl.col(RUN_ID) == run_id)
        .select(_raw_key(ref), _watermark(ref))
        .unique()
        .collect()
        if warehouse.exists(names.quarantine)
        else pl.DataFrame(schema={"key": pl.String, "watermark": pl.String})
    )
    truth = truth.with_columns(pl.col("watermark").cast(pl.String))
    marked = truth.join(
        quarantined.with_columns(pl.lit(True).alias("_q")), on=["key", "watermark"], how="left"
    ).with_columns(
        pl.col("_q").fill_null(False), pl.col("expected").is_in(QUARANTINE_OUTCOMES).alias("_should")
    )
    # Two truth rows can share key and watermark only as exact copies, which count once.
    distinct = marked.unique(["key", "watermark"])
    defect_recall = {
        d: round(float(g["_q"].mean()), 4)
        for (d,), g in distinct.filter("_should").explode("defects").group_by("defects")
        if d is not None
    }
    linkage = (
        _linkage(ref, truth, warehouse, names, registered)
        if ref.entity.person and not ref.entity.population_register
        else None
    )
    return TableScore(
        table=ref.key,
        rows=truth.height,
        should_quarantine=int(distinct["_should"].sum()),
        quarantined=quarantined.height,
        true_positives=int((distinct["_should"] & distinct["_q"]).sum()),
        linkable=linkage[0] if linkage else 0,
        linked_right=linkage[1] if linkage else 0,
        linked_wrong=linkage[2] if linkage else 0,
        unlinked=linkage[3] if linkage else 0,
        defect_recall=dict(sorted(defect_recall.items())),
    )


def _latest_run(ref: TableRef, warehouse: Warehouse) -> str | None:
    """The run of the table's latest load: the one the truth is compared with."""
    if not warehouse.exists(LOADS):
        return None
    latest = (
        warehouse.scan(LOADS)
        .filter((pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name))
        .sort("finished_at")
        .select(pl.col(RUN_ID).last())
        .collect()
    )
    return latest.item() if latest.height else None


def _linkage(
    ref: TableRef, truth: pl.DataFrame, warehouse: Warehouse, names: LoadNames, registered: pl.Series | None
) -> tuple[int, int, int, int]:
    """Silver rows joined back to their source rows (run id, row) and from there to the truth."""
    if not warehouse.exists(names.silver):
        return 0, 0, 0, 0
    silver = warehouse.scan(names.silver).select(RUN_ID, ROW, PERSON_ID)
    bronze = warehouse.scan(names.bronze).select(RUN_ID, ROW, _raw_key(ref), _watermark(ref))
    landed = silver.join(bronze, on=[RUN_ID, ROW], how="inner").collect()
    joined = landed.join(
        truth.unique(["key", "watermark"]).select("key", "watermark", "person_id"),
        on=["key", "watermark"],
        how="inner",
    )
    linkable = joined.filter(pl.col("person_id").is_not_null())
    if registered is not None:
        linkable = linkable.filter(pl.col("person_id").is_in(registered.implode()))
    right = int((linkable[PERSON_ID] == linkable["person_id"]).fill_null(False).sum())
    wrong = int(
        (
            (joined[PERSON_ID] != joined["person_id"]).fill_null(False)
            | (joined["person_id"].is_null() & joined[PERSON_ID].is_not_null())
        ).sum()
    )
    unlinked = int(linkable[PERSON_ID].is_null().sum())
    return linkable.height, right, wrong, unlinked


def score(catalogue: Catalogue, warehouse: Warehouse, demo_dir: Path) -> list[TableScore]:
    register_truth = demo_dir / "truth" / "population.cong_dan.parquet"
    registered = (
        pl.read_parquet(register_truth).filter(pl.col("expected") == "land")["person_id"].unique()
        if register_truth.exists()
        else None
    )
    scores = []
    for ref in catalogue.tables:
        source_table = ref.table.table or ref.table.name
        path = demo_dir / "truth" / f"{ref.source.name}.{source_table}.parquet"
        if path.exists():
            scores.append(score_table(ref, pl.read_parquet(path), warehouse, registered))
    return scores
