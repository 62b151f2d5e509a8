"""`generate`: write the five demo ministry sources, their dirt and the ground truth.

Layout under the demo dir (see docs/demo-sources.md):
`population.sqlite`, `social_insurance.sqlite`, `business.sqlite`, `welfare.sqlite`,
`civil_status/<kind>/<yyyy-mm>.csv` (each with its `.csv.done` marker), `truth/<source>.<table>.parquet`, `truth/people.parquet`.
The same seed, citizen count and run date give the same rows, byte for byte in the CSV files.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from demo import sources
from demo.dirt import Context, add_duplicates, defect_lists, inject
from demo.people import generate_people
from demo.sources import Table

CHUNK_ROWS = 200_000
MARKER = ".ndc-demo"  # written last: a dir without it is not ours to replace
PEOPLE_COLUMNS = (
    "person_id",
    "cmnd",
    "full_name",
    "date_of_birth",
    "sex",
    "birth_province_legacy",
    "ward_legacy",
    "ward_2025",
    "phone_e164",
    "deceased",
    "date_of_death",
)
SQLITE_FILES = ("population", "social_insurance", "business", "welfare")


@dataclass(frozen=True)
class GeneratedSources:
    root: Path  # the demo dir
    tables: dict[str, int]  # "population.cong_dan" -> rows written (incl. injected duplicates)
    people: int


def generate(
    root: Path,
    *,
    citizens: int = 100_000,
    seed: int = 6,
    run_date: dt.date = dt.date(2026, 11, 1),
    progress: Callable[[str], None] | None = None,
) -> GeneratedSources:
    """Generate the demo sources into `root`, replacing an earlier demo there."""
    if citizens < 100:
        raise ValueError(f"citizens must be at least 100, got {citizens}")
    root = Path(root)
    say = progress or (lambda _message: None)
    staging = _prepare_staging(root)
    counts: dict[str, int] = {}

    people = generate_people(citizens, _stream(seed, 0), run_date)
    (staging / "truth").mkdir()
    people.select(PEOPLE_COLUMNS).write_parquet(staging / "truth" / "people.parquet")
    say(f"people: {people.height:,}")
    ctx = Context(run_date=run_date, known_cmnd=people["cmnd"].drop_nulls().to_numpy())

    for number, table in enumerate(_tables(people, seed, run_date), start=1):
        if table.source == "civil_status":
            rows = _write_csv_drops(staging, table, _stream(seed, 100 + number), ctx)
        else:
            rows = _write_sqlite_table(staging, table, seed, 100 + number, ctx)
        counts[table.qualified] = rows
        say(f"{table.qualified}: {rows:,} rows")

    (staging / MARKER).write_text(f"seed={seed} citizens={citizens} run_date={run_date}\n")
    if root.exists():
        shutil.rmtree(root)
    staging.rename(root)
    return GeneratedSources(root=root, tables=counts, people=people.height)


def _stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent, reproducible random stream per purpose."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _tables(people: pl.DataFrame, seed: int, run_date: dt.date) -> Iterator[Table]:
    """The tables one source at a time, so only one source's frames are alive at once."""
    yield sources.cong_dan(people, _stream(seed, 1), run_date)
    enterprises, representatives = sources.business(people, _stream(seed, 2), run_date)
    codes = enterprises.frame["ma_so_doanh_nghiep"]
    employers = codes.filter(codes.str.len_chars() == 10).to_numpy()
    yield enterprises
    yield representatives
    del enterprises, representatives
    yield from sources.social_insurance(people, _stream(seed, 3), run_date, employers)
    yield from sources.civil_status(people, _stream(seed, 4), run_date)
    yield from sources.welfare(people, _stream(seed, 5), run_date)


def _prepare_staging(root: Path) -> Path:
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise FileExistsError(f"{root} is not empty and holds no demo ({MARKER}): not replacing it")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.with_name(f".{root.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def _truth(dirty: pl.DataFrame, table: Table) -> pl.DataFrame:
    key = pl.concat_str([pl.col(k).cast(pl.String) for k in table.key], separator="|")
    truth_columns = [c for c in dirty.columns if c.startswith("truth_") and c != "truth_person_id"]
    person = (
        pl.col("truth_person_id") if "truth_person_id" in dirty.columns else pl.lit(None, dtype=pl.String)
    )
    return dirty.select(
        key.alias("key"),
        pl.col(table.plan.watermark).alias("watermark"),
        pl.col("_expected").alias("expected"),
        defect_lists(pl.col("_bits")).alias("defects"),
        person.alias("person_id"),
        *[pl.col(c).alias(c.removeprefix("truth_")) for c in truth_columns],
    )


def _dirty(
    chunk: pl.DataFrame, table: Table, rng: np.random.Generator, ctx: Context, months: list[str] | None = None
) -> pl.DataFrame:
    return add_duplicates(inject(chunk, table.plan, rng, ctx), table.plan, rng, months)


def _write_sqlite_table(staging: Path, table: Table, seed: int, number: int, ctx: Context) -> int:
    connection = sqlite3.connect(staging / f"{table.source}.sqlite")
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    columns = ", ".join(f"{name} {kind}" for name, kind in table.columns.items())
    connection.execute(f"CREATE TABLE {table.name} ({columns})")
    insert = f"INSERT INTO {table.name} VALUES ({', '.join('?' for _ in table.columns)})"
    truth_path = staging / "truth" / f"{table.qualified}.parquet"
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for index, chunk in enumerate(table.frame.iter_slices(CHUNK_ROWS)):
            dirty = _dirty(chunk, table, _stream(seed, number, index), ctx)
            connection.executemany(insert, dirty.select(list(table.columns)).iter_rows())
            truth = _truth(dirty, table).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(truth_path, truth.schema)
            writer.write_table(truth.cast(writer.schema))
            rows += dirty.height
        connection.commit()
    finally:
        connection.close()
        if writer is not None:
            writer.close()
    return rows


def _write_csv_drops(staging: Path, table: Table, rng: np.random.Generator, ctx: Context) -> int:
    months = sources.drop_months(ctx.run_date)
    dirty = _dirty(table.frame, table, rng, ctx, months)
    folder = staging / "civil_status" / table.name
    folder.mkdir(parents=True)
    for month in months:
        dirty.filter(pl.col("_month") == month).select(list(table.columns)).write_csv(folder / f"{month}.csv")
        # The drop's declared completion marker (catalogue: complete_marker), written after the file.
        (folder / f"{month}.csv.done").touch()
    _truth(dirty, table).write_parquet(staging / "truth" / f"{table.qualified}.parquet")
    return dirty.height
