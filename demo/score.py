"""Score what the pipeline did against the demo's ground truth (the pipeline never reads it).

Per table: quarantine precision and recall (rows quarantined that should have been, and rows
quarantined that should not), recall per injected defect, and linkage: records linked to the right
person, to a wrong person (must be zero), or left unlinked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from catalogue import Catalogue, TableRef
from pipeline.link import PERSON_ID
from pipeline.names import ROW, LoadNames
from warehouse.tables import RUN_ID, Warehouse

QUARANTINE_OUTCOMES = ("quarantine", "superseded")
# Canonical column -> the truth file's column holding its true value.
TRUTH_OF = {
    "full_name": "full_name",
    "date_of_birth": "date_of_birth",
    "sex": "sex",
    "phone": "phone_e164",
    "date_of_death": "date_of_death",
    "birth_province_2025": "birth_province_code_2025",
    "residence_ward_2025": "ward_code_2025",
    "ward_2025": "ward_code_2025",
    "province_2025": "province_code_2025",
    "office_province_2025": "province_code_2025",
}
# Defects after which the true value cannot be recovered from the source, by design: the row
# lands with what the ministry sent (a raw phone flagged invalid, a partial date with its precision).
UNRECOVERABLE = {"phone": "phone_invalid", "date_of_birth": "date_partial"}
# Review flags that accompany a ward column: a split ward must be flagged, never guessed.
REVIEW_FLAG_OF = {"residence_ward_2025": "residence_ward_review", "ward_2025": "ward_review"}


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
    value_accuracy: dict[str, float] = field(default_factory=dict)  # canonical column -> share equal to truth
    split_wards: int = 0  # landed rows whose legacy ward was split in 2025 ...
    split_wards_flagged: int = 0  # ... of which flagged for review (never guessed)

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
    # Every run of this warehouse loaded the same demo (ndc demo resets it when the demo changes),
    # so a row counts as quarantined if any run quarantined it.
    quarantined = (
        warehouse.scan(names.quarantine).select(_raw_key(ref), _watermark(ref)).unique().collect()
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
    joined = _landed(ref, truth, warehouse, names) if warehouse.exists(names.silver) else None
    linkage = (
        _linkage(joined, registered)
        if joined is not None and ref.entity.person and not ref.entity.population_register
        else None
    )
    split, flagged = _split_wards(joined) if joined is not None else (0, 0)
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
        value_accuracy=_value_accuracy(joined) if joined is not None else {},
        split_wards=split,
        split_wards_flagged=flagged,
    )


def _landed(ref: TableRef, truth: pl.DataFrame, warehouse: Warehouse, names: LoadNames) -> pl.DataFrame:
    """Silver rows joined back to their source rows (run id, row) and from there to the truth."""
    silver = warehouse.scan(names.silver)
    bronze = warehouse.scan(names.bronze).select(RUN_ID, ROW, _raw_key(ref), _watermark(ref))
    landed = silver.join(bronze, on=[RUN_ID, ROW], how="inner").collect()
    truth = truth.unique(["key", "watermark"])
    truth = truth.rename({c: f"truth__{c}" for c in truth.columns if c not in ("key", "watermark")})
    return landed.join(truth, on=["key", "watermark"], how="inner")


def _linkage(joined: pl.DataFrame, registered: pl.Series | None) -> tuple[int, int, int, int]:
    truth = "truth__person_id"
    linkable = joined.filter(pl.col(truth).is_not_null())
    if registered is not None:
        linkable = linkable.filter(pl.col(truth).is_in(registered.implode()))
    right = int((linkable[PERSON_ID] == linkable[truth]).fill_null(False).sum())
    wrong = int(
        (
            (joined[PERSON_ID] != joined[truth]).fill_null(False)
            | (joined[truth].is_null() & joined[PERSON_ID].is_not_null())
        ).sum()
    )
    unlinked = int(linkable[PERSON_ID].is_null().sum())
    return linkable.height, right, wrong, unlinked


def _value_accuracy(joined: pl.DataFrame) -> dict[str, float]:
    """Per normalised column, the share of landed rows equal to the truth (null = null)."""
    from normalise import normaliser

    accuracy = {}
    for column, truth_column in TRUTH_OF.items():
        truth_name = f"truth__{truth_column}"
        if column not in joined.columns or truth_name not in joined.columns:
            continue
        rows = joined
        if column in UNRECOVERABLE:
            rows = rows.filter(~pl.col("truth__defects").list.contains(UNRECOVERABLE[column]))
        ours, true = pl.col(column), pl.col(truth_name)
        if column == "full_name":  # display keeps the ministry's tone-mark style: compare folded for style
            fold = normaliser("name_key_accented")
            ours, true = fold(ours), fold(true)
        equal = (ours == true).fill_null(False) | (ours.is_null() & true.is_null())
        if rows.height:
            accuracy[column] = round(float(rows.select(equal.mean()).item()), 5)
    return accuracy


def _split_wards(joined: pl.DataFrame) -> tuple[int, int]:
    for ward, flag in REVIEW_FLAG_OF.items():
        if ward in joined.columns and flag in joined.columns and "truth__ward_code_2025" in joined.columns:
            split = joined.filter(pl.col("truth__ward_code_2025").is_null())
            return split.height, int(split[flag].fill_null(False).sum())
    return 0, 0


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
