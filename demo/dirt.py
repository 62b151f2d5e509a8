"""Defects injected into the demo sources, at known rates, with the outcome each should lead to.

A table's clean frame holds its source columns (as the ministry writes them), helper columns
(prefixed `_`: the person's true ID, CMND, date of birth, …) and truth columns (`truth_…`).
`inject` picks rows per defect site, rewrites the site's column and records the defect; at most
one defect per row and *role* (one ID defect, one name defect, …), so every row's expected
outcome stays computable: quarantine if any quarantine defect, else land. Duplicates are added
after, as extra rows, only of rows that would land.

Over 300 lines because it is the list of defects (one small function each) and the rates they
are drawn at: demo code, read as a catalogue of what the pipeline must catch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from demo import vocab
from demo.people import unique_random_digits

# Share of a table's (generated, non-duplicate) rows that get each defect, where the table has a
# site for it and enough eligible rows. admin_legacy is not injected: every demo code is legacy,
# so it tags every row that carries a code (rate 1.0 on those tables).
DEFECT_RATES: dict[str, float] = {
    "id_malformed": 0.01,
    "id_birth_mismatch": 0.01,
    "id_zeros_stripped": 0.015,
    "cmnd_instead_of_id": 0.02,
    "cmnd_unknown": 0.005,
    "name_nfd": 0.015,
    "name_upper": 0.02,
    "name_tone_style": 0.01,
    "name_d_bar": 0.005,
    "name_spaces": 0.015,
    "name_missing": 0.005,
    "date_impossible": 0.005,
    "date_future": 0.005,
    "date_partial": 0.01,
    "death_before_birth": 0.001,
    "admin_legacy": 1.0,
    "admin_unknown": 0.005,
    "phone_11_digit": 0.02,
    "phone_plus84": 0.02,
    "phone_separators": 0.02,
    "phone_invalid": 0.005,
    "tax_code_bad_check": 0.01,
    "duplicate_exact": 0.01,
    "duplicate_conflict": 0.01,
}

DEFECT_OUTCOME: dict[str, str] = {
    "id_malformed": "quarantine",
    "id_birth_mismatch": "quarantine",
    "id_zeros_stripped": "land",
    "cmnd_instead_of_id": "land",
    "cmnd_unknown": "quarantine",
    "name_nfd": "land",
    "name_upper": "land",
    "name_tone_style": "land",
    "name_d_bar": "land",
    "name_spaces": "land",
    "name_missing": "quarantine",
    "date_impossible": "quarantine",
    "date_future": "quarantine",
    "date_partial": "land",
    "death_before_birth": "quarantine",
    "admin_legacy": "land",
    "admin_unknown": "quarantine",
    "phone_11_digit": "land",
    "phone_plus84": "land",
    "phone_separators": "land",
    "phone_invalid": "land",
    "tax_code_bad_check": "quarantine",
    "duplicate_exact": "deduplicated",
    "duplicate_conflict": "superseded",
}

DEFECTS: tuple[str, ...] = tuple(DEFECT_RATES)
_BIT = {name: 1 << i for i, name in enumerate(DEFECTS)}
_ROLE_PREFIX = {
    "id": "id",
    "cmnd": "id",
    "name": "name",
    "date": "date",
    "death": "death",
    "admin": "admin",
    "phone": "phone",
    "tax": "tax",
}


def role(defect: str) -> str:
    """Defects of one role touch the same column: a row gets at most one of them."""
    return _ROLE_PREFIX[defect.split("_", 1)[0]]


@dataclass(frozen=True)
class Context:
    run_date: dt.date
    known_cmnd: np.ndarray  # every CMND the population register holds


@dataclass(frozen=True)
class Site:
    """A defect applied to one of `columns` (chosen per row); `param` tells the value's form:
    `dmy`/`iso` for dates, `province`/`ward` for codes."""

    defect: str
    columns: tuple[str, ...]
    param: str = ""


Alter = Callable[[pl.DataFrame, np.random.Generator], pl.DataFrame]


@dataclass(frozen=True)
class DirtPlan:
    sites: tuple[Site, ...]
    admin_columns: tuple[str, ...] = ()  # columns holding a legacy code (for admin_legacy)
    alter_older: Alter | None = None  # the "other values" of an older version (duplicate_conflict)
    watermark: str = "ngay_cap_nhat"  # or "_month" for CSV drops


# ---------------------------------------------------------------- value rewriters (k rows each)


def _ints(rng: np.random.Generator, low: int, high: int, k: int) -> pl.Series:
    return pl.Series(rng.integers(low, high, size=k), dtype=pl.Int64)


def _id_malformed(v: pl.Series, sub: pl.DataFrame, param: str, rng, ctx) -> pl.Series:
    k = v.len()
    frame = pl.DataFrame(
        {
            "v": v,
            "variant": _ints(rng, 0, 3, k),
            "pos": _ints(rng, 3, 12, k),
            "letter": pl.Series(np.array(list("OIlBS"))[rng.integers(0, 5, k)]),
            "digit": _ints(rng, 0, 10, k).cast(pl.String),
        }
    )
    return frame.select(
        pl.when(pl.col("variant") == 0)
        .then(
            pl.col("v").str.slice(0, pl.col("pos"))
            + pl.col("letter")
            + pl.col("v").str.slice(pl.col("pos") + 1)
        )
        .when(pl.col("variant") == 1)
        .then(pl.col("v").str.slice(0, 8))
        .otherwise(pl.col("v") + pl.col("digit"))
    ).to_series()


def _id_birth_mismatch(v: pl.Series, sub: pl.DataFrame, param: str, rng, ctx) -> pl.Series:
    k = v.len()
    frame = pl.DataFrame({"v": v, "variant": _ints(rng, 0, 3, k), "shift": _ints(rng, 1, 10, k)})
    g = pl.col("v").str.slice(3, 1).cast(pl.Int64)
    yy = pl.col("v").str.slice(4, 2).cast(pl.Int64)
    new_g = (
        pl.when(pl.col("variant") == 0)
        .then(g.xor(1))  # the other sex
        .when(pl.col("variant") == 1)
        .then(pl.when(g >= 2).then(g - 2).otherwise(g + 2))
        .otherwise(g)
    )
    new_yy = pl.when(pl.col("variant") == 2).then((yy + pl.col("shift")) % 100).otherwise(yy)
    return frame.select(
        pl.col("v").str.slice(0, 3)
        + new_g.cast(pl.String)
        + new_yy.cast(pl.String).str.zfill(2)
        + pl.col("v").str.slice(6)
    ).to_series()


def _id_zeros_stripped(v, sub, param, rng, ctx) -> pl.Series:
    return v.str.strip_chars_start("0")


def _cmnd_instead_of_id(v, sub: pl.DataFrame, param, rng, ctx) -> pl.Series:
    return sub["_cmnd"]


def _cmnd_unknown(v: pl.Series, sub, param, rng, ctx: Context) -> pl.Series:
    first = rng.integers(0, 4, size=v.len()).astype(str)
    return pl.Series(unique_random_digits(rng, first, 8, forbidden=ctx.known_cmnd), dtype=pl.String)


def _name_spaces(v: pl.Series, sub, param, rng, ctx) -> pl.Series:
    frame = pl.DataFrame({"v": v, "variant": _ints(rng, 0, 3, v.len())})
    return frame.select(
        pl.when(pl.col("variant") == 0)
        .then(pl.col("v").str.replace_all(" ", "  ", literal=True))
        .when(pl.col("variant") == 1)
        .then(pl.lit(" ") + pl.col("v") + pl.lit("  "))
        .otherwise(pl.col("v").str.replace(" ", "   ", literal=True) + pl.lit(" "))
    ).to_series()


def _name_missing(v: pl.Series, sub, param, rng, ctx) -> pl.Series:
    empty = rng.random(v.len()) < 0.5
    return pl.Series(np.where(empty, "", None).tolist(), dtype=pl.String)


def _format(date: pl.Expr, param: str) -> pl.Expr:
    return date.dt.strftime("%Y-%m-%d" if param == "iso" else "%d/%m/%Y")


def _date_impossible(v: pl.Series, sub: pl.DataFrame, param: str, rng, ctx) -> pl.Series:
    # (day, month) pairs no calendar has; month 0 with a real day is "partial", so avoided.
    pairs = np.array(
        [(31, 2), (30, 2), (0, 13), (32, 1), (15, 13), (31, 4), (31, 6), (31, 9), (31, 11), (35, 12)]
    )
    pick = pairs[rng.integers(0, len(pairs), v.len())]
    frame = pl.DataFrame(
        {
            "y": sub["_dob"].dt.year().cast(pl.String),
            "d": pl.Series(pick[:, 0]).cast(pl.String).str.zfill(2),
            "m": pl.Series(pick[:, 1]).cast(pl.String).str.zfill(2),
        }
    )
    parts = ["y", "m", "d"] if param == "iso" else ["d", "m", "y"]
    return frame.select(pl.concat_str(parts, separator="-" if param == "iso" else "/")).to_series()


def _date_future(v: pl.Series, sub, param: str, rng, ctx: Context) -> pl.Series:
    offsets = rng.integers(30, 3650, v.len())
    dates = pl.Series(np.datetime64(ctx.run_date, "D") + offsets)
    return pl.select(_format(pl.lit(dates), param)).to_series()


def _date_partial(v: pl.Series, sub: pl.DataFrame, param: str, rng, ctx) -> pl.Series:
    year_only = pl.Series(rng.random(v.len()) < 0.5)
    return sub.select(
        pl.when(year_only).then(pl.lit("00/00/")).otherwise(pl.lit("00/") + sub["_dob"].dt.strftime("%m/"))
        + pl.col("_dob").dt.year().cast(pl.String)
    ).to_series()


def _death_before_birth(v: pl.Series, sub: pl.DataFrame, param, rng, ctx) -> pl.Series:
    back = pl.Series(rng.integers(1, 3650, v.len()), dtype=pl.Int64)
    return sub.select(_format(pl.col("_dob") - pl.duration(days=back), "dmy")).to_series()


def _phone_11_digit(v, sub: pl.DataFrame, param, rng, ctx) -> pl.Series:
    return sub.select(
        pl.col("_phone").str.slice(0, 3).replace_strict(vocab.ELEVEN_DIGIT_PREFIX)
        + pl.col("_phone").str.slice(3)
    ).to_series()


def _phone_plus84(v, sub: pl.DataFrame, param, rng, ctx) -> pl.Series:
    return sub.select(pl.lit("+84") + pl.col("_phone").str.slice(1)).to_series()


def _phone_separators(v, sub: pl.DataFrame, param, rng, ctx) -> pl.Series:
    sep = pl.Series(np.array([" ", ".", "-"])[rng.integers(0, 3, sub.height)])
    p = pl.col("_phone")
    return sub.select(
        pl.concat_str(p.str.slice(0, 4), pl.lit(sep), p.str.slice(4, 3), pl.lit(sep), p.str.slice(7))
    ).to_series()


def _phone_invalid(v, sub: pl.DataFrame, param, rng, ctx) -> pl.Series:
    short = pl.Series(rng.random(sub.height) < 0.5)
    p = pl.col("_phone")
    return sub.select(pl.when(short).then(p.str.slice(0, 7)).otherwise(p + pl.lit("123"))).to_series()


def _admin_unknown(v: pl.Series, sub, param: str, rng, ctx) -> pl.Series:
    if param == "province":
        pool = np.array(vocab.admin_codes().unknown_provinces)
        return pl.Series(pool[rng.integers(0, pool.size, v.len())])
    # Above the highest ward code of either list (32248).
    return pl.Series(rng.integers(40_000, 100_000, v.len())).cast(pl.String)


def _tax_code_bad_check(v: pl.Series, sub, param, rng, ctx) -> pl.Series:
    frame = pl.DataFrame({"v": v, "shift": _ints(rng, 1, 10, v.len())})
    check = pl.col("v").str.slice(9, 1).cast(pl.Int64)
    return frame.select(
        pl.col("v").str.slice(0, 9)
        + ((check + pl.col("shift")) % 10).cast(pl.String)
        + pl.col("v").str.slice(10)
    ).to_series()


Rewrite = Callable[[pl.Series, pl.DataFrame, str, np.random.Generator, Context], pl.Series]
REWRITES: dict[str, Rewrite] = {
    "id_malformed": _id_malformed,
    "id_birth_mismatch": _id_birth_mismatch,
    "id_zeros_stripped": _id_zeros_stripped,
    "cmnd_instead_of_id": _cmnd_instead_of_id,
    "cmnd_unknown": _cmnd_unknown,
    "name_nfd": lambda v, sub, param, rng, ctx: v.str.normalize("NFD"),
    "name_upper": lambda v, sub, param, rng, ctx: v.str.to_uppercase(),
    "name_tone_style": lambda v, sub, param, rng, ctx: sub["_name_alt"],
    "name_d_bar": lambda v, sub, param, rng, ctx: v.str.replace_all("Đ", "Ð", literal=True),
    "name_spaces": _name_spaces,
    "name_missing": _name_missing,
    "date_impossible": _date_impossible,
    "date_future": _date_future,
    "date_partial": _date_partial,
    "death_before_birth": _death_before_birth,
    "admin_unknown": _admin_unknown,
    "phone_11_digit": _phone_11_digit,
    "phone_plus84": _phone_plus84,
    "phone_separators": _phone_separators,
    "phone_invalid": _phone_invalid,
    "tax_code_bad_check": _tax_code_bad_check,
}


def eligible(frame: pl.DataFrame, site: Site) -> np.ndarray:
    """Rows where the defect makes sense (a CMND to use, a Đ to replace, a phone to mangle…)."""
    value = pl.col(site.columns[0])
    rule: pl.Expr = {
        "id_zeros_stripped": value.str.starts_with("0"),
        "cmnd_instead_of_id": pl.col("_cmnd").is_not_null() if "_cmnd" in frame.columns else None,
        "name_nfd": value.str.normalize("NFD") != value,
        "name_tone_style": pl.col("_name_alt").is_not_null() if "_name_alt" in frame.columns else None,
        "name_d_bar": value.str.contains("Đ", literal=True),
        "date_partial": pl.lit(site.param == "dmy"),
        "death_before_birth": pl.col("_dod").is_not_null() if "_dod" in frame.columns else None,
        "phone_11_digit": pl.col("_phone").str.slice(0, 3).is_in(list(vocab.ELEVEN_DIGIT_PREFIX)),
    }.get(site.defect, pl.lit(True))
    if rule is None:
        raise ValueError(f"site {site.defect} needs a helper column the frame lacks")
    if site.defect.startswith("phone_"):
        rule = rule & pl.col("_phone").is_not_null()
    elif site.defect.startswith(("date_", "death_")):
        rule = rule & pl.col("_dob").is_not_null()
    else:
        rule = rule & value.is_not_null()
    return frame.select(rule.fill_null(False)).to_series().to_numpy()


def inject(frame: pl.DataFrame, plan: DirtPlan, rng: np.random.Generator, ctx: Context) -> pl.DataFrame:
    """The frame with defects written in, plus `_defects` (list) and `_expected` columns."""
    n = frame.height
    bits = np.zeros(n, dtype=np.int64)
    if plan.admin_columns:
        bits |= _BIT["admin_legacy"]
    taken: dict[str, np.ndarray] = {}
    for site in plan.sites:
        free = taken.setdefault(role(site.defect), np.ones(n, dtype=bool))
        candidates = np.flatnonzero(eligible(frame, site) & free)
        k = min(round(DEFECT_RATES[site.defect] * n), candidates.size)
        if k == 0:
            continue
        rows = np.sort(rng.choice(candidates, size=k, replace=False))
        column_of_row = rng.integers(0, len(site.columns), size=k)
        for c, column in enumerate(site.columns):
            idx = rows[column_of_row == c]
            if idx.size == 0:
                continue
            sub = frame[idx]
            values = REWRITES[site.defect](sub[column], sub, site.param, rng, ctx)
            series = frame[column].clone()
            series.scatter(idx, values.cast(series.dtype))
            frame = frame.with_columns(series)
            if site.defect == "admin_unknown" and len(plan.admin_columns) == 1:
                bits[idx] &= ~_BIT["admin_legacy"]
        free[rows] = False
        bits[rows] |= _BIT[site.defect]
    quarantine = sum(_BIT[d] for d, o in DEFECT_OUTCOME.items() if o == "quarantine")
    expected = np.where(bits & quarantine, "quarantine", "land")
    return frame.with_columns(_bits=pl.Series(bits), _expected=pl.Series(expected))


def add_duplicates(
    frame: pl.DataFrame, plan: DirtPlan, rng: np.random.Generator, months: list[str] | None = None
) -> pl.DataFrame:
    """Append exact copies and older conflicting versions of rows that would land."""
    n = frame.height
    lands = np.flatnonzero(frame["_expected"].to_numpy() == "land")
    k_exact = min(round(DEFECT_RATES["duplicate_exact"] * n), lands.size)
    exact = rng.choice(lands, size=k_exact, replace=False)
    rest = np.setdiff1d(lands, exact)
    if plan.watermark == "_month" and months:
        # The current version must move to a later drop: only rows not in the last month.
        rest = rest[frame["_month"].to_numpy()[rest] != months[-1]]
    k_conflict = min(round(DEFECT_RATES["duplicate_conflict"] * n), rest.size)
    conflict = np.sort(rng.choice(rest, size=k_conflict, replace=False))
    exact = np.sort(exact)

    copies = frame[exact].with_columns(
        _bits=pl.col("_bits") | _BIT["duplicate_exact"], _expected=pl.lit("deduplicated")
    )
    older = frame[conflict]
    if plan.alter_older is not None:
        older = plan.alter_older(older, rng)
    older = older.with_columns(
        _bits=pl.col("_bits") | _BIT["duplicate_conflict"], _expected=pl.lit("superseded")
    )
    if plan.watermark == "ngay_cap_nhat":
        back = pl.Series(rng.integers(3600, 365 * 86400, conflict.size), dtype=pl.Int64)
        stamp = pl.col("ngay_cap_nhat").str.to_datetime("%Y-%m-%d %H:%M:%S")
        older = older.with_columns(
            ngay_cap_nhat=(stamp - pl.duration(seconds=back)).dt.strftime("%Y-%m-%d %H:%M:%S")
        )
    elif months:
        # The correction is filed in a later drop; the older version stays in its month.
        now = np.searchsorted(np.array(months), frame["_month"].to_numpy()[conflict].astype(str))
        later = now + (rng.random(now.size) * (len(months) - 1 - now)).astype(np.int64) + 1
        month = frame["_month"].clone()
        month.scatter(conflict, pl.Series(np.array(months)[later]))
        frame = frame.with_columns(month)
    return pl.concat([frame, copies, older], how="vertical")


def defect_lists(bits: pl.Expr) -> pl.Expr:
    """The bitmask as a list of defect names, in DEFECTS order."""
    return pl.concat_list([pl.when((bits & _BIT[d]) != 0).then(pl.lit(d)) for d in DEFECTS]).list.drop_nulls()
