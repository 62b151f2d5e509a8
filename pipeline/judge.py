"""Judging a load: the duplicate verdicts decided once over the whole load (narrow columns), then
each slice judged (canonical columns, those verdicts applied, links to the citizen register, the
suite's rules and the pipeline's own: unsafe keys, tombstones without a key); where each judged
row goes (silver, quarantine, or counted as an exact copy); and the Outcome adding slices up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from catalogue import TableRef
from connectors.staging import SCRATCH_PARQUET
from pipeline.bronze import CHUNK_ROWS, slice_of
from pipeline.duplicates import DUPLICATE, EXACT, classify_duplicates
from pipeline.link import AMBIGUOUS, LINK_METHOD, LINKED_METHODS, PERSON_ID, PeopleRegister, link_people
from pipeline.mapping import canonical_expressions, canonical_frame
from pipeline.names import DELETED, ERRORS, LOAD_COLUMNS, ROW, WARNINGS
from pipeline.rules import KEY_UNSAFE, TOMBSTONE_WITHOUT_KEY
from pipeline.stages import StageClock
from pipeline.versions import version_order
from quality.compile import CompiledSuite, flag_rows

UNSAFE_KEY = r"^[=+@\t\r]|[\x00-\x1f\x7f]"

# Where each judged row goes: exact copies are counted and dropped, rows breaking an error rule
# go to quarantine, the rest land in silver. Every row is in exactly one of the three.
IS_EXACT_COPY = (pl.col(DUPLICATE) == EXACT).fill_null(False)
IS_REJECTED = ~IS_EXACT_COPY & (pl.col(ERRORS).list.len() > 0)
IS_LANDING = ~IS_EXACT_COPY & ~IS_REJECTED


def judge_slice(
    ref: TableRef,
    raw: pl.DataFrame,
    decisions: pl.DataFrame,
    compiled: CompiledSuite,
    people: PeopleRegister | None,
    clock: StageClock | None = None,
    *,
    validate: bool = True,
    link: bool = True,
    known: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One slice of the load: canonical columns, duplicate verdicts, links, and the rules each row breaks.
    `known`: canonical columns of these rows made already (`normalised_keys`), not made again."""
    clock = clock or StageClock()

    soft_delete = ref.table.soft_delete
    deleted = (
        pl.col(soft_delete.column).cast(pl.String).is_in(soft_delete.values).fill_null(False)
        if soft_delete
        else pl.lit(False)
    )
    with clock.stage("normalise"):
        # Each distinct source value normalised once (pipeline/mapping.py: canonical_frame).
        canonical = (
            canonical_frame(raw, ref.table, ref.entity, known)
            .hstack(raw.select(ROW, deleted.alias(DELETED)))
            .join(decisions, on=ROW, how="left", maintain_order="left")
        )
    with clock.stage("link"):
        canonical = (
            link_people(canonical.lazy(), ref.entity, people).collect() if link else canonical.with_columns(*_UNLINKED)
        )
    # The suite judges one version per key: duplicates were decided over the whole load by the
    # declared rule, and judging them again would make the winning version "not unique". A
    # tombstone needs only its key: the row is gone at the source, its other values no longer matter.
    decided_already = pl.col(DUPLICATE).is_not_null() | pl.col(DELETED)
    no_rules = pl.lit([], pl.List(pl.String))
    with clock.stage("validate"):
        judged = (
            flag_rows(canonical.filter(~decided_already), compiled)
            if validate
            else canonical.filter(~decided_already).with_columns(no_rules.alias(ERRORS), no_rules.alias(WARNINGS))
        )
        key_missing = pl.any_horizontal(pl.col(k).is_null() for k in ref.entity.primary_key)
        decided = canonical.filter(decided_already).with_columns(
            pl.when(pl.col(DUPLICATE) == EXACT)
            .then(no_rules)
            .when(pl.col(DUPLICATE).is_not_null())
            .then(pl.concat_list(pl.col(DUPLICATE)))
            .when(key_missing)
            .then(pl.lit([TOMBSTONE_WITHOUT_KEY]))
            .otherwise(no_rules)
            .alias(ERRORS),
            no_rules.alias(WARNINGS),
        )
        # A key is an identifier: one a spreadsheet would run as a formula (=HYPERLINK(…)) or holding a
        # control character is not a ministry's key but an injection, and would travel into every export.
        unsafe_key = pl.any_horizontal(
            pl.col(k).cast(pl.String).str.contains(UNSAFE_KEY).fill_null(False) for k in ref.entity.primary_key
        )
        key_rules = pl.when(unsafe_key).then(pl.lit([KEY_UNSAFE])).otherwise(no_rules)
        flagged = pl.concat([judged, decided], how="vertical").sort(ROW)
        # Link errors and unsafe keys are rare: the lists are merged only when a row has one (the
        # suite's and the duplicate rule's lists hold each rule once already).
        extra = (pl.col("_link_errors").list.len() > 0) | unsafe_key
        if flagged.select(extra.any()).item():
            flagged = flagged.with_columns(
                pl.when(extra)
                .then(pl.concat_list(ERRORS, "_link_errors", key_rules).list.unique(maintain_order=True))
                .otherwise(pl.col(ERRORS))
                .alias(ERRORS)
            )
        flagged = flagged.drop("_link_errors")
    return flagged


# What linking adds, for a load measured without it: every row unlinked, no link errors.
_UNLINKED = (
    pl.lit(None, pl.String).alias(PERSON_ID),
    pl.lit(None, pl.String).alias(LINK_METHOD),
    pl.lit([], pl.List(pl.String)).alias("_link_errors"),
)


@dataclass
class Outcome:
    """What the slices of one load came to, added up."""

    landed: int = 0
    quarantined: int = 0
    deduplicated: int = 0
    warned: int = 0
    linked: int = 0
    ambiguous: int = 0
    deleted: int = 0
    rule_counts: Counter[str] = field(default_factory=Counter)

    def add(self, flagged: pl.DataFrame) -> None:
        row = flagged.select(
            IS_LANDING.sum().alias("landed"),
            IS_REJECTED.sum().alias("quarantined"),
            IS_EXACT_COPY.sum().alias("deduplicated"),
            (IS_LANDING & (pl.col(WARNINGS).list.len() > 0)).sum().alias("warned"),
            (IS_LANDING & pl.col(LINK_METHOD).is_in(LINKED_METHODS)).sum().alias("linked"),
            (IS_LANDING & (pl.col(LINK_METHOD) == AMBIGUOUS)).sum().alias("ambiguous"),
            (IS_LANDING & pl.col(DELETED)).sum().alias("deleted"),
        ).row(0, named=True)
        for name, value in row.items():
            setattr(self, name, getattr(self, name) + int(value))
        # Each list exploded on its own: concatenating the two lists row by row first cost ~30x
        # more (0.10 s against 0.003 s a 250k-row slice), most rows breaking nothing.
        broken = pl.concat([flagged.lazy().select(pl.col(rules).explode().alias("rule")) for rules in (ERRORS, WARNINGS)])
        self.rule_counts.update(dict(broken.drop_nulls().group_by("rule").len().collect().iter_rows()))


def _narrow_file(scratch: Path, number: int) -> Path:
    return scratch / f"narrow-{number:05d}.parquet"


def normalised_keys(ref: TableRef, scratch: Path, number: int, raw: pl.DataFrame) -> pl.DataFrame | None:
    """The canonical key and version columns `duplicate_decisions` made for slice `number`, in
    `raw`'s row order (raw is sorted by row), so judging the slice does not normalise them again;
    None when the scratch has no such slice or it holds other rows."""
    path = _narrow_file(scratch, number)
    if not path.exists():
        return None
    stamp = version_order(ref.table)
    columns = list(dict.fromkeys([*ref.entity.primary_key, *([stamp] if stamp else [])]))
    narrow = pl.read_parquet(path, columns=[ROW, *columns]).sort(ROW)
    if not narrow.get_column(ROW).equals(raw.get_column(ROW)):
        return None
    return narrow.select(columns)


def duplicate_decisions(ref: TableRef, this_run: pl.LazyFrame, rows: int, scratch: Path) -> pl.DataFrame:
    """The duplicate rule over the whole load, on narrow columns: row, canonical key, watermark and
    a hash of the row as extracted (exact copies share key, watermark and hash). Only the rows
    that are duplicates are returned, with their verdict.

    Memory stays flat in the table's size: the narrow columns are written slice by slice to the
    load's private `scratch` folder, and only a 64-bit hash of each key stays in memory (8 bytes a
    row, against ~50 for the narrow columns); the suspects are then read back from the scratch."""
    source_columns = [c for c in this_run.collect_schema().names() if c not in LOAD_COLUMNS]
    keys = ref.entity.primary_key
    stamp = version_order(ref.table)
    wanted = set(keys) | {stamp}
    narrow_columns = [
        pl.col(ROW),
        *(expr for name, expr in canonical_expressions(ref.table, ref.entity).items() if name in wanted),
        pl.struct(source_columns).hash(seed=0).alias("_row_hash"),
    ]
    # Read in the same slices as the judging, so the wide rows never sit in memory all at once.
    # The key's hash is written with the slice, so the suspects are found by the very hashes.
    files, hashes = [], []
    for number, first in enumerate(range(0, rows, CHUNK_ROWS)):
        narrow = (
            slice_of(this_run, first).select(narrow_columns)
            .with_columns(pl.struct(keys).hash(seed=1).alias("_key_hash")).collect()
        )
        files.append(_narrow_file(scratch, number))
        narrow.write_parquet(files[-1], **SCRATCH_PARQUET)
        hashes.append(narrow["_key_hash"])
    if not files:
        return this_run.select(ROW, pl.lit(None, pl.String).alias(DUPLICATE)).head(0).collect()
    # Only rows whose key occurs more than once (or is missing) can be duplicates: the rule's
    # windows run on those few. Repeats are found on a sorted 64-bit hash of the key (grouping
    # millions of text keys costs gigabytes); a collision only adds a suspect, judged on the real key.
    ordered = pl.concat(hashes).sort()
    del hashes
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    del ordered
    suspects = pl.scan_parquet(files).filter(
        pl.col("_key_hash").is_in(repeated.implode()) | pl.any_horizontal(pl.col(k).is_null() for k in keys)
    )
    return (
        classify_duplicates(
            suspects,
            keys=keys,
            raw_columns=["_row_hash", *keys, *([stamp] if stamp else [])],
            watermark=stamp,
        )
        .filter(pl.col(DUPLICATE).is_not_null())
        .select(ROW, DUPLICATE)
        .collect()
    )
