"""The clean frames of the five ministries' tables, each with its dirt plan.

Every builder takes the people frame and returns a `Table`: the source columns in the ministry's
own names and formats (all text but the integer keys), helper columns (`_…`) the dirt needs, and
the truth columns (`truth_…`). Rows are drawn from the people, so every source holds a subset
of the same persons with their values.

Over 300 lines because it holds one builder per ministry table (ten), each a list of columns:
data declared as code, not logic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from demo import vocab
from demo.dirt import DirtPlan, Site
from demo.people import (
    _digits,
    days,
    unique_random_digits,
    weighted_sample,
    window_start,
)

INSURED_SHARE = 0.4
ENTERPRISE_SHARE = 0.05
BRANCH_SHARE = 0.1
MARRIAGE_SHARE = 0.005
WELFARE_SHARE = 0.08
TIMESTAMP = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Table:
    source: str  # population, social_insurance, business, civil_status, welfare
    name: str
    columns: dict[str, str]  # source column → SQLite type (TEXT or INTEGER)
    key: tuple[str, ...]
    frame: pl.DataFrame
    plan: DirtPlan

    @property
    def qualified(self) -> str:
        return f"{self.source}.{self.name}"


def dmy(expr: pl.Expr) -> pl.Expr:
    return expr.dt.strftime("%d/%m/%Y")


def sex_vi(female: pl.Expr) -> pl.Expr:
    return pl.when(female).then(pl.lit("Nữ")).otherwise(pl.lit("Nam"))


def timestamps(
    rng: np.random.Generator, n: int, run_date: dt.date, not_before: pl.Expr | None = None
) -> pl.Expr:
    """A last-update time within the two years before the run date (after `not_before`)."""
    end = days(run_date) * 86400
    seconds = pl.lit(pl.Series(end - rng.integers(3600, 730 * 86400, n), dtype=pl.Int64))
    if not_before is not None:
        floor = (not_before.cast(pl.Int64) * 86400 + 86400).fill_null(0)
        seconds = pl.max_horizontal(seconds, pl.min_horizontal(floor, pl.lit(end - 1)))
    return pl.from_epoch(seconds, time_unit="s").dt.strftime(TIMESTAMP)


def person_helpers() -> dict[str, pl.Expr]:
    """Helper and truth columns every person-row carries (keyword arguments of a select)."""
    return {
        "_pid": pl.col("person_id"),
        "_cmnd": pl.col("cmnd"),
        "_name_alt": pl.col("name_other_style"),
        "_dob": pl.col("date_of_birth"),
        "_phone": pl.col("phone"),
        "truth_person_id": pl.col("person_id"),
        "truth_full_name": pl.col("full_name"),
        "truth_date_of_birth": pl.col("date_of_birth"),
        "truth_sex": pl.col("sex"),
    }


ID_SITES = ("id_malformed", "id_birth_mismatch", "id_zeros_stripped")
CMND_SITES = ("cmnd_instead_of_id", "cmnd_unknown")
NAME_SITES = ("name_nfd", "name_upper", "name_tone_style", "name_d_bar", "name_spaces", "name_missing")
PHONE_SITES = ("phone_11_digit", "phone_plus84", "phone_separators", "phone_invalid")


def sites(defects: tuple[str, ...], *columns: str, param: str = "") -> tuple[Site, ...]:
    return tuple(Site(d, columns, param) for d in defects)


def new_phone(rng: np.random.Generator, n: int) -> pl.Series:
    prefix = np.array(vocab.MOBILE_PREFIXES)[rng.integers(0, len(vocab.MOBILE_PREFIXES), n)]
    return pl.Series(np.char.add(prefix, _digits(rng, n, 7)))


def _alter_phone(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    return frame.with_columns(so_dien_thoai=new_phone(rng, frame.height))


# ------------------------------------------------------------------ population register


def cong_dan(people: pl.DataFrame, rng: np.random.Generator, run_date: dt.date) -> Table:
    codes = vocab.admin_codes()
    frame = people.select(
        so_dinh_danh="person_id",
        so_cmnd="cmnd",
        ho_ten="full_name",
        ngay_sinh=dmy(pl.col("date_of_birth")),
        gioi_tinh=sex_vi(pl.col("female")),
        ma_tinh_khai_sinh="birth_province_legacy",
        ma_xa_thuong_tru="ward_legacy",
        so_dien_thoai="phone",
        tinh_trang=pl.when("deceased").then(pl.lit("da_chet")).otherwise(pl.lit("con_song")),
        ngay_mat=dmy(pl.col("date_of_death")),
        ngay_cap_nhat=timestamps(rng, people.height, run_date, not_before=pl.col("dod_days")),
        _dod=pl.col("date_of_death"),
        **person_helpers(),
        truth_phone_e164="phone_e164",
        truth_birth_province_code_2025="birth_province_2025",
        truth_ward_code_2025="ward_2025",
        truth_date_of_death="date_of_death",
    )

    def alter(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        # The older version had another residence (any legacy ward).
        ward = codes.ward_codes[rng.integers(0, codes.ward_codes.size, older.height)]
        return older.with_columns(ma_xa_thuong_tru=pl.Series(ward))

    plan = DirtPlan(
        sites=(
            *sites(ID_SITES, "so_dinh_danh"),
            *sites(NAME_SITES, "ho_ten"),
            *sites(("date_impossible", "date_future", "date_partial"), "ngay_sinh", param="dmy"),
            Site("death_before_birth", ("ngay_mat",)),
            Site("admin_unknown", ("ma_tinh_khai_sinh", "ma_xa_thuong_tru"), "mixed"),
            *sites(PHONE_SITES, "so_dien_thoai"),
        ),
        admin_columns=("ma_tinh_khai_sinh", "ma_xa_thuong_tru"),
        alter_older=alter,
    )
    return Table("population", "cong_dan", _text(frame), ("so_dinh_danh",), frame, plan)


# ------------------------------------------------------------------ social insurance


def social_insurance(
    people: pl.DataFrame, rng: np.random.Generator, run_date: dt.date, enterprise_codes: np.ndarray
) -> tuple[Table, Table]:
    age = (days(run_date) - people["dob_days"].to_numpy()) / 365.25
    alive = ~people["deceased"].to_numpy()
    weight = np.where(alive & (age >= 18) & (age <= 65), 1.0, 0.0)
    weight += np.where(alive & (((age > 65) & (age < 75)) | ((age >= 16) & (age < 18))), 0.1, 0.0)
    chosen = weighted_sample(rng, weight, round(people.height * INSURED_SHARE))
    insured = people[chosen]
    bhxh = unique_random_digits(rng, insured["residence_province_legacy"].to_numpy().astype("<U2"), 8)
    persons = insured.select(
        ma_so_bhxh=pl.Series(bhxh),
        so_dinh_danh="person_id",
        ho_ten="full_name",
        ngay_sinh=pl.col("date_of_birth").dt.strftime("%Y-%m-%d"),
        gioi_tinh=pl.when("female").then(pl.lit("0")).otherwise(pl.lit("1")),
        so_dien_thoai="phone",
        ma_tinh="residence_province_legacy",
        ngay_cap_nhat=timestamps(rng, insured.height, run_date),
        **person_helpers(),
        truth_phone_e164="phone_e164",
        truth_province_code_2025="residence_province_2025",
    )
    persons_plan = DirtPlan(
        sites=(
            *sites(ID_SITES + CMND_SITES, "so_dinh_danh"),
            *sites(NAME_SITES, "ho_ten"),
            *sites(("date_impossible", "date_future"), "ngay_sinh", param="iso"),
            Site("admin_unknown", ("ma_tinh",), "province"),
            *sites(PHONE_SITES, "so_dien_thoai"),
        ),
        admin_columns=("ma_tinh",),
        alter_older=_alter_phone,
    )

    # Contribution periods: 1 + Poisson(1) per person, consecutive, the last often still open.
    count = np.minimum(1 + rng.poisson(1.0, insured.height), 6)
    owner = np.repeat(np.arange(insured.height), count)
    first = np.cumsum(count) - count  # index of each owner's first period
    months = rng.integers(6, 61, owner.size)
    step = months + rng.integers(0, 7, owner.size)  # the period plus a gap before the next
    before = np.cumsum(step) - step
    offset = before - np.repeat(before[first], count)  # months since the owner's first period
    run_month = run_date.year * 12 + run_date.month - 1
    dob = insured["date_of_birth"].to_numpy().astype("datetime64[M]").astype(np.int64) + 1970 * 12
    start = np.maximum(dob + 18 * 12, 2000 * 12) + rng.integers(0, 60, insured.height)
    tu = np.minimum(start[owner] + offset, run_month - 1)
    den = np.minimum(tu + months - 1, run_month - 1)
    is_last = np.arange(owner.size) == np.repeat(first + count - 1, count)
    still_open = is_last & ((rng.random(owner.size) < 0.6) | (den >= run_month - 1))
    salary = np.round(np.clip(rng.lognormal(np.log(9e6), 0.5, owner.size), 4.96e6, 8e7), -3)
    periods = pl.DataFrame(
        {
            "ma_qua_trinh": np.arange(1, owner.size + 1, dtype=np.int64),
            "ma_so_bhxh": bhxh[owner],
            "tu_thang": _month_text(tu),
            "den_thang": pl.Series(_month_text(den)).scatter(np.flatnonzero(still_open), None),
            "muc_luong": salary.astype(np.int64).astype(str),
            "ma_so_thue_don_vi": enterprise_codes[rng.integers(0, enterprise_codes.size, owner.size)],
        }
    ).with_columns(
        ngay_cap_nhat=timestamps(rng, owner.size, run_date),
        truth_person_id=insured["person_id"].gather(owner),
    )

    def alter(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        factor = rng.uniform(0.7, 0.95, older.height)
        return older.with_columns(
            muc_luong=((pl.col("muc_luong").cast(pl.Int64) * pl.Series(factor) / 1000).round(0) * 1000)
            .cast(pl.Int64)
            .cast(pl.String)
        )

    periods_plan = DirtPlan(sites=(Site("tax_code_bad_check", ("ma_so_thue_don_vi",)),), alter_older=alter)
    return (
        Table("social_insurance", "nguoi_tham_gia", _text(persons), ("ma_so_bhxh",), persons, persons_plan),
        Table(
            "social_insurance",
            "qua_trinh_dong",
            _text(periods) | {"ma_qua_trinh": "INTEGER"},
            ("ma_qua_trinh",),
            periods,
            periods_plan,
        ),
    )


def _month_text(month_index: np.ndarray) -> pl.Series:
    months = pl.Series(month_index % 12 + 1).cast(pl.String).str.zfill(2)
    years = pl.Series(month_index // 12).cast(pl.String)
    return months + "/" + years


# ------------------------------------------------------------------ business registration


def enterprise_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 10-digit enterprise codes with a valid check digit."""
    weights = np.array([31, 29, 23, 19, 17, 13, 7, 5, 3])
    prefix = np.array([f"{p:02d}" for p in range(1, 97)])[rng.integers(0, 96, n)]
    body = unique_random_digits(rng, prefix, 7)
    while True:
        digits = body.view("<U1").reshape(n, 9).astype(np.int64)
        check = 10 - (digits @ weights) % 11
        bad = check == 10
        if not bad.any():
            return np.char.add(body, check.astype(str))
        idx = np.flatnonzero(bad)
        body[idx] = unique_random_digits(rng, prefix[idx], 7, forbidden=body)


def business(people: pl.DataFrame, rng: np.random.Generator, run_date: dt.date) -> tuple[Table, Table]:
    n = max(round(people.height * ENTERPRISE_SHARE), 1)
    main_codes = enterprise_codes(rng, n)
    branch = rng.random(n) < BRANCH_SHARE
    branch[0] = False
    heads = main_codes[~branch]
    parents = heads[rng.integers(0, heads.size, int(branch.sum()))]
    codes = main_codes.astype("<U14")
    # A branch: its parent's code and a 3-digit branch number (distinct per parent).
    codes[branch] = unique_random_digits(rng, np.char.add(parents, "-"), 3)
    codes = pl.Series(codes)
    form = rng.integers(0, len(vocab.ENTERPRISE_FORMS), n)
    province = vocab.admin_codes().provinces[rng.integers(0, 63, n)]
    founded = rng.integers(days(dt.date(1995, 1, 1)), days(run_date), n)
    enterprises = pl.DataFrame(
        {
            "ma_so_doanh_nghiep": codes,
            "ten_doanh_nghiep": pl.Series(np.array(vocab.ENTERPRISE_FORMS)[form])
            + " "
            + pl.Series(np.array(vocab.ENTERPRISE_WORDS)[rng.integers(0, 16, n)])
            + " "
            + pl.Series(np.array(vocab.ENTERPRISE_BRANDS)[rng.integers(0, 20, n)]),
            "ngay_thanh_lap": pl.Series(founded.astype("datetime64[D]")).dt.strftime("%d/%m/%Y"),
            "ma_tinh": province,
            "trang_thai": np.array(vocab.ENTERPRISE_STATUSES)[rng.choice(3, n, p=[0.85, 0.08, 0.07])],
            "_dob": pl.Series(founded.astype("datetime64[D]")),
            "truth_province_code_2025": pl.Series(province).replace(vocab.PROVINCE_2025),
        }
    ).with_columns(ngay_cap_nhat=timestamps(rng, n, run_date))

    def alter_status(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        return older.with_columns(
            trang_thai=pl.when(pl.col("trang_thai") == "hoat_dong")
            .then(pl.lit("tam_ngung"))
            .otherwise(pl.lit("hoat_dong"))
        )

    enterprise_plan = DirtPlan(
        sites=(
            Site("tax_code_bad_check", ("ma_so_doanh_nghiep",)),
            Site("date_impossible", ("ngay_thanh_lap",), "dmy"),
            Site("admin_unknown", ("ma_tinh",), "province"),
        ),
        admin_columns=("ma_tinh",),
        alter_older=alter_status,
    )

    age = (days(run_date) - people["dob_days"].to_numpy()) / 365.25
    weight = np.where(~people["deceased"].to_numpy() & (age >= 22) & (age <= 75), 1.0, 0.0)
    chosen = weighted_sample(rng, weight, n)
    chosen = rng.permutation(chosen)  # not in ID order
    reps = people[chosen]
    titles = np.array(vocab.REPRESENTATIVE_TITLES)
    title = np.where(form == 3, titles[4], titles[rng.integers(0, 4, reps.height)])
    representatives = reps.select(
        ma_dai_dien=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        ma_so_doanh_nghiep=codes[: reps.height],
        so_dinh_danh="person_id",
        ho_ten="full_name",
        ngay_sinh=dmy(pl.col("date_of_birth")),
        gioi_tinh=sex_vi(pl.col("female")),
        chuc_danh=pl.Series(title[: reps.height]),
        ngay_cap_nhat=timestamps(rng, reps.height, run_date),
        **person_helpers(),
    )

    def alter_title(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        return older.with_columns(chuc_danh=pl.Series(titles[rng.integers(0, 4, older.height)]))

    rep_plan = DirtPlan(
        sites=(
            *sites(ID_SITES + CMND_SITES, "so_dinh_danh"),
            *sites(NAME_SITES, "ho_ten"),
            *sites(("date_impossible", "date_future", "date_partial"), "ngay_sinh", param="dmy"),
            Site("tax_code_bad_check", ("ma_so_doanh_nghiep",)),
        ),
        alter_older=alter_title,
    )
    return (
        Table(
            "business",
            "doanh_nghiep",
            _text(enterprises),
            ("ma_so_doanh_nghiep",),
            enterprises,
            enterprise_plan,
        ),
        Table(
            "business",
            "nguoi_dai_dien",
            _text(representatives) | {"ma_dai_dien": "INTEGER"},
            ("ma_dai_dien",),
            representatives,
            rep_plan,
        ),
    )


# ------------------------------------------------------------------ civil status (CSV drops)


def drop_months(run_date: dt.date) -> list[str]:
    """The 24 monthly drops before the run date's month, oldest first (`yyyy-mm`)."""
    first = window_start(run_date)
    index = first.year * 12 + first.month - 1
    return [f"{(index + i) // 12:04d}-{(index + i) % 12 + 1:02d}" for i in range(24)]


def _registration(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """Sorted by registration date, numbered, with the drop month."""
    return frame.sort("_registered", maintain_order=True).with_columns(
        so_dang_ky=pl.lit(prefix)
        + pl.col("_registered").dt.strftime("%Y%m")
        + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(6),
        ngay_dang_ky=dmy(pl.col("_registered")),
        _month=pl.col("_registered").dt.strftime("%Y-%m"),
    )


def civil_status(
    people: pl.DataFrame, rng: np.random.Generator, run_date: dt.date
) -> tuple[Table, Table, Table]:
    last_day = days(run_date) - 1
    first_day = days(window_start(run_date))
    year = people["date_of_birth"].dt.year().to_numpy()
    alive = ~people["deceased"].to_numpy()
    female = people["female"].to_numpy()

    # Births: the birth cohort, registered within 60 days, parents from the adult pools.
    children = people.filter("birth_cohort")
    fathers = np.flatnonzero(alive & ~female & (year >= 1975) & (year <= 2005))
    mothers = np.flatnonzero(alive & female & (year >= 1980) & (year <= 2006))
    ids = people["person_id"]
    father = ids.gather(fathers[rng.integers(0, fathers.size, children.height)])
    mother = ids.gather(mothers[rng.integers(0, mothers.size, children.height)])
    registered = np.minimum(children["dob_days"].to_numpy() + rng.integers(0, 61, children.height), last_day)
    births = (
        children.with_columns(
            _registered=pl.Series(registered.astype("datetime64[D]")),
            _father=father,
            _mother=mother,
        )
        .pipe(lambda f: _registration(f, "KS"))
        .select(
            "so_dang_ky",
            "ngay_dang_ky",
            so_dinh_danh="person_id",
            ho_ten="full_name",
            ngay_sinh=dmy(pl.col("date_of_birth")),
            gioi_tinh=sex_vi(pl.col("female")),
            ma_tinh_dang_ky="birth_province_legacy",
            so_dinh_danh_cha="_father",
            so_dinh_danh_me="_mother",
            _month="_month",
            **person_helpers(),
            truth_province_code_2025="birth_province_2025",
            truth_father_person_id="_father",
            truth_mother_person_id="_mother",
        )
    )

    def alter_father(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        return older.with_columns(
            so_dinh_danh_cha=ids.gather(fathers[rng.integers(0, fathers.size, older.height)])
        )

    births_plan = DirtPlan(
        sites=(
            *sites(ID_SITES, "so_dinh_danh"),
            *sites(NAME_SITES, "ho_ten"),
            *sites(("date_impossible", "date_future", "date_partial"), "ngay_sinh", param="dmy"),
            Site("admin_unknown", ("ma_tinh_dang_ky",), "province"),
        ),
        admin_columns=("ma_tinh_dang_ky",),
        alter_older=alter_father,
        watermark="_month",
    )

    # Deaths: the recent deaths, registered within 30 days.
    recent = people.filter(pl.col("dod_days") >= first_day)
    registered = np.minimum(recent["dod_days"].to_numpy() + rng.integers(0, 31, recent.height), last_day)
    deaths = (
        recent.with_columns(_registered=pl.Series(registered.astype("datetime64[D]")))
        .pipe(lambda f: _registration(f, "KT"))
        .select(
            "so_dang_ky",
            "ngay_dang_ky",
            so_dinh_danh="person_id",
            ho_ten="full_name",
            ngay_mat=dmy(pl.col("date_of_death")),
            ma_tinh_dang_ky="residence_province_legacy",
            _month="_month",
            **person_helpers(),
            truth_date_of_death="date_of_death",
            truth_province_code_2025="residence_province_2025",
        )
        .with_columns(_dob=pl.col("truth_date_of_death"))
    )  # date defects here rewrite ngay_mat

    def alter_death(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        earlier = pl.Series(rng.integers(1, 5, older.height), dtype=pl.Int64)
        return older.with_columns(ngay_mat=dmy(pl.col("_dob") - pl.duration(days=earlier)))

    deaths_plan = DirtPlan(
        sites=(
            *sites(("id_malformed", "id_zeros_stripped", *CMND_SITES), "so_dinh_danh"),
            *sites(NAME_SITES, "ho_ten"),
            *sites(("date_impossible", "date_future"), "ngay_mat", param="dmy"),
            Site("admin_unknown", ("ma_tinh_dang_ky",), "province"),
        ),
        admin_columns=("ma_tinh_dang_ky",),
        alter_older=alter_death,
        watermark="_month",
    )

    # Marriages: husbands 20–45 and wives 18–40, alive, each married once in the window.
    age = (days(run_date) - people["dob_days"].to_numpy()) / 365.25
    k = round(people.height * MARRIAGE_SHARE)
    husbands = weighted_sample(rng, (alive & ~female & (age >= 20) & (age <= 45)).astype(float), k)
    wives = weighted_sample(rng, (alive & female & (age >= 18) & (age <= 40)).astype(float), k)
    k = min(husbands.size, wives.size)
    husbands, wives = rng.permutation(husbands)[:k], rng.permutation(wives)[:k]
    wife = people[wives]
    registered = rng.integers(first_day, last_day + 1, k)
    marriages = (
        people[husbands]
        .with_columns(
            _registered=pl.Series(registered.astype("datetime64[D]")),
            _wife_id=wife["person_id"],
            _wife_name=wife["full_name"],
        )
        .pipe(lambda f: _registration(f, "KH"))
        .select(
            "so_dang_ky",
            "ngay_dang_ky",
            so_dinh_danh_chong="person_id",
            ho_ten_chong="full_name",
            so_dinh_danh_vo="_wife_id",
            ho_ten_vo="_wife_name",
            ma_tinh_dang_ky="residence_province_legacy",
            _month="_month",
            **person_helpers(),
            truth_wife_person_id="_wife_id",
            truth_wife_full_name="_wife_name",
            truth_province_code_2025="residence_province_2025",
        )
    )

    def alter_place(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        provinces = vocab.admin_codes().provinces
        return older.with_columns(
            ma_tinh_dang_ky=pl.Series(provinces[rng.integers(0, provinces.size, older.height)])
        )

    marriages_plan = DirtPlan(
        sites=(
            *sites(("id_malformed", "id_zeros_stripped", *CMND_SITES), "so_dinh_danh_chong"),
            *sites(NAME_SITES, "ho_ten_chong"),
            Site("admin_unknown", ("ma_tinh_dang_ky",), "province"),
        ),
        admin_columns=("ma_tinh_dang_ky",),
        alter_older=alter_place,
        watermark="_month",
    )

    return (
        Table("civil_status", "khai_sinh", _text(births), ("so_dang_ky",), births, births_plan),
        Table("civil_status", "khai_tu", _text(deaths), ("so_dang_ky",), deaths, deaths_plan),
        Table("civil_status", "ket_hon", _text(marriages), ("so_dang_ky",), marriages, marriages_plan),
    )


# ------------------------------------------------------------------ social welfare


def welfare(people: pl.DataFrame, rng: np.random.Generator, run_date: dt.date) -> tuple[Table, Table]:
    age = (days(run_date) - people["dob_days"].to_numpy()) / 365.25
    alive = ~people["deceased"].to_numpy()
    weight = np.where(alive, np.select([age >= 75, age >= 60], [6.0, 2.0], 1.0), 0.0)
    chosen = weighted_sample(rng, weight, round(people.height * WELFARE_SHARE))
    who = people[chosen]
    a = age[chosen]
    u = rng.random(chosen.size)
    kinds = np.array(vocab.WELFARE_KINDS)
    kind = np.select(
        [a >= 80, (a >= 60) & (u < 0.3), (a >= 60) & (u < 0.6), u < 0.4],
        [np.where(u < 0.75, kinds[0], kinds[3]), kinds[3], kinds[1], kinds[1]],
        kinds[2],
    )
    beneficiaries = who.select(
        ma_doi_tuong=pl.lit("DT") + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(8),
        so_dinh_danh="person_id",
        ho_ten="full_name",
        ngay_sinh=dmy(pl.col("date_of_birth")),
        gioi_tinh=sex_vi(pl.col("female")),
        loai_tro_cap=pl.Series(kind),
        ma_xa="ward_legacy",
        so_dien_thoai="phone",
        ngay_cap_nhat=timestamps(rng, who.height, run_date),
        **person_helpers(),
        truth_phone_e164="phone_e164",
        truth_ward_code_2025="ward_2025",
        truth_province_code_2025="residence_province_2025",
    )
    beneficiary_plan = DirtPlan(
        sites=(
            *sites(ID_SITES + CMND_SITES, "so_dinh_danh"),
            *sites(NAME_SITES, "ho_ten"),
            *sites(("date_impossible", "date_future", "date_partial"), "ngay_sinh", param="dmy"),
            Site("admin_unknown", ("ma_xa",), "ward"),
            *sites(PHONE_SITES, "so_dien_thoai"),
        ),
        admin_columns=("ma_xa",),
        alter_older=_alter_phone,
    )

    # Payments: the last 1 + Poisson(2) months before the run month, one per month.
    count = np.minimum(1 + rng.poisson(2.0, who.height), 12)
    owner = np.repeat(np.arange(who.height), count)
    back = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count) + 1
    run_month = run_date.year * 12 + run_date.month - 1
    period = run_month - back
    amounts = {k: np.array(v) for k, v in vocab.WELFARE_AMOUNTS.items()}
    amount = np.zeros(owner.size, dtype=np.int64)
    for name, values in amounts.items():
        mine = kind[owner] == name
        amount[mine] = values[rng.integers(0, values.size, int(mine.sum()))]
    paid_on = (period - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]") + rng.integers(
        4, 15, owner.size
    )
    payments = pl.DataFrame(
        {
            "ma_chi_tra": pl.Series(np.arange(1, owner.size + 1)).cast(pl.String).str.zfill(10),
            "ma_doi_tuong": beneficiaries["ma_doi_tuong"].gather(owner),
            "ky_chi_tra": _month_text(period),
            "so_tien": amount.astype(str),
            "_dob": pl.Series(paid_on),
        }
    ).with_columns(
        ngay_chi_tra=dmy(pl.col("_dob")),
        ngay_cap_nhat=timestamps(rng, owner.size, run_date, not_before=pl.col("_dob").cast(pl.Int64)),
        truth_person_id=who["person_id"].gather(owner),
    )

    def alter_amount(older: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        return older.with_columns(so_tien=(pl.col("so_tien").cast(pl.Int64) - 10_000).cast(pl.String))

    payment_plan = DirtPlan(
        sites=(Site("date_impossible", ("ngay_chi_tra",), "dmy"),), alter_older=alter_amount
    )
    return (
        Table(
            "welfare", "doi_tuong", _text(beneficiaries), ("ma_doi_tuong",), beneficiaries, beneficiary_plan
        ),
        Table("welfare", "chi_tra", _text(payments), ("ma_chi_tra",), payments, payment_plan),
    )


def _text(frame: pl.DataFrame) -> dict[str, str]:
    """The source columns (not helpers, truth or drop month), all TEXT."""
    return {c: "TEXT" for c in frame.columns if not c.startswith(("_", "truth_"))}


Builder = Callable[..., Table]
