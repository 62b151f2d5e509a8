"""Analyst-facing gold tables: one row per person across ministries, and the Project 06 linkage KPIs.

Gold carries pseudonyms, never personal IDs: a keyed hash (HMAC-SHA256) whose key lives in the
environment, outside the data, so analysts can join gold tables but cannot recover an ID.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from catalogue import Catalogue
from pipeline.link import PERSON_ID
from pipeline.personal_data import CITIZEN_360, GOLD_PERSONAL_DATA  # noqa: F401 - GOLD_PERSONAL_DATA: its old home
from warehouse.demo_marker import is_demo_warehouse

LINKAGE_KPIS = ("kpi", "linkage_by_province")

# Public, in the source code: it protects nothing, so it may build gold only in the demo's own
# warehouse (a local folder carrying the demo's mark), never anywhere real data could be.
DEMO_PSEUDONYM_KEY = "ndc-demo-key-not-for-production"
KEY_ENV = "NDC_PSEUDONYM_KEY"
# HMAC-SHA256 keys shorter than the hash's 32 bytes weaken it; IDs are only 12 digits, so a weak or
# known key lets anyone hash every possible ID and reverse the pseudonyms by lookup.
MIN_KEY_BYTES = 32
BIRTH_YEAR_BAND = 5  # gold publishes the first year of a five-year band (1980 = born 1980–1984)
_GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'

# The silver columns gold reads, and nothing more: silver is scanned with only these (assets/gold.py).
REGISTER_COLUMNS = (PERSON_ID, "date_of_birth", "sex", "birth_province_2025", "vital_status")
PROVINCE_COLUMNS = (PERSON_ID, "birth_province_2025")  # the register, for the KPIs' provinces
LINKED_COLUMNS = (PERSON_ID,)  # every other table: whom its rows link to


@dataclass(frozen=True)
class GoldSources:
    """Which catalogue tables (`source.table`) gold reads, by the role their entity declares."""

    register: str  # the population register (`population_register: true`)
    people: tuple[str, ...]  # tables whose records are about a person (`person`), the register included
    deaths: tuple[str, ...]  # tables whose records register deaths (`records_death: true`)

    @classmethod
    def of(cls, catalogue: Catalogue) -> GoldSources:
        return cls(
            register=next(ref.key for ref in catalogue.tables if ref.entity.population_register),
            people=tuple(ref.key for ref in catalogue.tables if ref.entity.person),
            deaths=tuple(ref.key for ref in catalogue.tables if ref.entity.records_death),
        )


def death_rows(frames: Sequence[pl.DataFrame]) -> pl.DataFrame | None:
    """The linked people of every death-recording table, as one frame; None when none is loaded."""
    return pl.concat([frame.select(PERSON_ID) for frame in frames]) if frames else None


class PseudonymKeyError(ValueError):
    """The pseudonym key may not build gold here; the message says how to make one."""


def pseudonym_key(configured: str | None, warehouse_uri: str) -> bytes:
    """The key gold may be built with, or PseudonymKeyError (one line) when the policy refuses it.

    No key in the demo's own warehouse means the demo key; anywhere else a key must be set, at
    least MIN_KEY_BYTES long, and not the public demo key.
    """
    key = configured or ""
    demo = is_demo_warehouse(warehouse_uri)
    how = f"set {KEY_ENV} to a secret of at least {MIN_KEY_BYTES} bytes, e.g. from `{_GENERATE}`"
    if not key.strip():
        if demo:
            return DEMO_PSEUDONYM_KEY.encode()
        raise PseudonymKeyError(
            f"{KEY_ENV} is not set or empty: gold is not built without a pseudonym key; {how}"
        )
    if key == DEMO_PSEUDONYM_KEY:
        if demo:
            return key.encode()
        raise PseudonymKeyError(
            f"{KEY_ENV} is the public demo key, allowed only in the demo's own warehouse, not {warehouse_uri}; {how}"
        )
    if len(key.encode()) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"{KEY_ENV} is {len(key.encode())} bytes, too short to protect 12-digit IDs; {how}"
        )
    return key.encode()


def pseudonymise(ids: pl.Expr, key: bytes) -> pl.Expr:
    """HMAC-SHA256 of each ID, hex; hashing runs once per distinct value of a batch."""

    def digest(series: pl.Series) -> pl.Series:
        distinct = series.unique().drop_nulls()
        mapping = {v: hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in distinct.to_list()}
        return series.replace_strict(mapping, default=None, return_dtype=pl.String)

    return ids.map_batches(digest, return_dtype=pl.String)


def citizen_360(
    citizens: pl.DataFrame, known_by: Mapping[str, pl.DataFrame], deaths: pl.DataFrame | None, key: bytes
) -> pl.DataFrame:
    """One row per registered person: which ministries know them, vital status across sources.

    `known_by` maps a ministry table (`source.table`) to its silver rows with `_person_id`;
    `deaths` is the death registrations (tables with `records_death`) with `_person_id`, if loaded.
    """
    people = citizens.filter(pl.col(PERSON_ID).is_not_null()).select(
        pl.col(PERSON_ID),
        # Five-year bands, not years: with sex and province a birth year leaves a 12-digit ID only
        # 10^6 candidates, and narrows people down in linkage with outside data (docs/sql.md).
        (pl.col("date_of_birth").dt.year() // BIRTH_YEAR_BAND * BIRTH_YEAR_BAND).alias("birth_year_band"),
        "sex",
        pl.col("birth_province_2025").alias("birth_province"),
        pl.col("vital_status").alias("vital_status_register"),
    )
    flags = []
    for table, rows in sorted(known_by.items()):
        column = "known_to_" + table.replace(".", "__")
        linked = rows.select(pl.col(PERSON_ID).drop_nulls().unique()).with_columns(pl.lit(True).alias(column))
        people = people.join(linked, on=PERSON_ID, how="left").with_columns(pl.col(column).fill_null(False))
        flags.append(column)
    if deaths is not None:
        registered = deaths.select(pl.col(PERSON_ID).drop_nulls().unique()).with_columns(
            pl.lit(True).alias("death_registered")
        )
        people = people.join(registered, on=PERSON_ID, how="left")
    else:
        people = people.with_columns(pl.lit(None, pl.Boolean).alias("death_registered"))
    return people.with_columns(
        pl.col("death_registered").fill_null(False),
        pl.sum_horizontal(*flags).alias("ministries_known") if flags else pl.lit(0).alias("ministries_known"),
        # The register says alive but civil status registered a death: a case for the register to review.
        ((pl.col("vital_status_register") == "alive") & pl.col("death_registered").fill_null(False)).alias(
            "vital_status_conflict"
        ),
        pseudonymise(pl.col(PERSON_ID), key).alias("person_pseudonym"),
    ).select("person_pseudonym", pl.exclude("person_pseudonym", PERSON_ID))


def linkage_kpis(
    silver: Mapping[str, pl.DataFrame],
    loads: pl.DataFrame,
    citizens: pl.DataFrame,
    ministries: Mapping[str, str],
) -> pl.DataFrame:
    """Per ministry table and 2025 province: rows landed, % linked to the register, % quarantined.

    The province is the linked person's (registered birth province, 2025 list); unlinked rows
    are counted under `unlinked`. Quarantine shares come from the latest load of each table.
    """
    province = citizens.select(pl.col(PERSON_ID), pl.col("birth_province_2025").alias("province_2025"))
    parts = []
    for table, rows in silver.items():
        if PERSON_ID not in rows.columns:
            continue
        source = table.split(".")[0]
        parts.append(
            rows.select(PERSON_ID)
            .join(province, on=PERSON_ID, how="left")
            .with_columns(pl.col("province_2025").fill_null("unlinked"))
            .group_by("province_2025")
            .agg(pl.len().alias("rows_landed"), pl.col(PERSON_ID).is_not_null().sum().alias("rows_linked"))
            .with_columns(
                pl.lit(ministries.get(source, source)).alias("ministry"),
                pl.lit(source).alias("source"),
                pl.lit(table.split(".")[1]).alias("table"),
            )
        )
    if not parts:
        return pl.DataFrame()
    latest = (
        loads.sort("finished_at")
        .group_by("source", "table")
        .last()
        .select("source", "table", "extracted", "quarantined", "deduplicated")
    )
    return (
        pl.concat(parts)
        .join(latest, on=["source", "table"], how="left")
        .with_columns(
            (100 * pl.col("rows_linked") / pl.col("rows_landed")).round(2).alias("pct_linked"),
            (100 * pl.col("quarantined") / (pl.col("extracted") - pl.col("deduplicated")))
            .round(2)
            .alias("table_pct_quarantined"),
        )
        .select(
            "ministry",
            "source",
            "table",
            "province_2025",
            "rows_landed",
            "rows_linked",
            "pct_linked",
            pl.col("quarantined").alias("table_rows_quarantined"),
            "table_pct_quarantined",
        )
        .sort("source", "table", "province_2025")
    )
