"""The synthetic population: one row per person, vectorised with numpy and polars."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from demo import vocab

EPOCH = dt.date(1970, 1, 1)
BIRTH_YEARS = (1930, 2025)
# Share of the population per event kind (per N citizens).
BIRTH_COHORT_SHARE = 0.01  # born in the 24 months before the run date (the khai_sinh drop)
RECENT_DEATH_SHARE = 0.008  # died in the 24 months before the run date (the khai_tu drop)
PAST_DEATH_SHARE = 0.02  # died earlier (the register knows it, no recent drop)
CMND_SHARE = 0.4  # of adults born before 2000
PHONE_SHARE = 0.9
SAME_PROVINCE_SHARE = 0.75  # live in the province where their birth was registered
WINDOW_MONTHS = 24


def days(date: dt.date) -> int:
    return (date - EPOCH).days


def window_start(run_date: dt.date) -> dt.date:
    """First day of the first of the 24 monthly file drops before the run date's month."""
    month_index = run_date.year * 12 + run_date.month - 1 - WINDOW_MONTHS
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


def weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k distinct indices drawn with probability proportional to weights (Gumbel top-k), sorted."""
    k = min(k, int(np.count_nonzero(weights > 0)))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(weights.size)) / weights
    keys[weights <= 0] = -np.inf
    chosen = np.argpartition(-keys, k - 1)[:k]
    return np.sort(chosen)


def unique_random_digits(
    rng: np.random.Generator, prefixes: np.ndarray, width: int, forbidden: np.ndarray | None = None
) -> np.ndarray:
    """prefix + `width` random digits per row, all distinct and none in `forbidden`."""
    values = np.char.add(prefixes, _digits(rng, prefixes.size, width))
    while True:
        # Keep the first of each clash, redraw the rest (deterministic for a given rng state).
        redraw = ~pl.Series(values).is_first_distinct().to_numpy()
        if forbidden is not None:
            # Through polars: np.isin on string arrays degrades to a quadratic scan.
            redraw |= pl.Series(values).is_in(pl.Series(forbidden, dtype=pl.String).implode()).to_numpy()
        if not redraw.any():
            return values
        idx = np.flatnonzero(redraw)
        values[idx] = np.char.add(prefixes[idx], _digits(rng, idx.size, width))


def _digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    numbers = rng.integers(0, 10**width, size=n)
    return pl.Series(numbers).cast(pl.String).str.zfill(width).to_numpy().astype(f"<U{width}")


def _pick(
    rng: np.random.Generator, pool: tuple[str, ...] | list[str], n: int, weights: np.ndarray | None = None
) -> np.ndarray:
    p = None if weights is None else weights / weights.sum()
    return rng.choice(len(pool), size=n, p=p)


def generate_people(n: int, rng: np.random.Generator, run_date: dt.date) -> pl.DataFrame:
    """Every person of the demo: identity, residence, phone and vital status (true values)."""
    codes = vocab.admin_codes()
    female = rng.random(n) < 0.5

    # Dates of birth: older cohorts thinner; the last 1% born in the file-drop window.
    years = np.arange(BIRTH_YEARS[0], BIRTH_YEARS[1] + 1)
    year_weights = np.clip(0.3 + 0.7 * (years - 1930) / 30, 0.3, 1.0)
    year = rng.choice(years, size=n, p=year_weights / year_weights.sum())
    start = np.array([days(dt.date(int(y), 1, 1)) for y in years])
    length = np.array([365 + (y % 4 == 0) for y in years])
    dob = start[year - years[0]] + (rng.random(n) * length[year - years[0]]).astype(np.int64)
    window = (days(window_start(run_date)), days(run_date) - 1)
    cohort = np.zeros(n, dtype=bool)
    cohort[rng.choice(n, size=round(n * BIRTH_COHORT_SHARE), replace=False)] = True
    dob[cohort] = rng.integers(window[0], window[1] - 60, size=int(cohort.sum()))
    # Births in the drop window must stay within it even if the base year says otherwise.
    dob = np.minimum(dob, days(run_date) - 1)

    # Vital status: recent deaths (in the window) and past ones, older people more likely.
    age_years = (days(run_date) - dob) / 365.25
    death_weight = np.where(~cohort & (dob < window[0] - 366), (age_years / 50.0) ** 4, 0.0)
    recent = weighted_sample(rng, death_weight, round(n * RECENT_DEATH_SHARE))
    death_weight[recent] = 0.0
    death_weight[dob >= days(dt.date(1990, 1, 1))] = 0.0
    past = weighted_sample(rng, death_weight, round(n * PAST_DEATH_SHARE))
    dod = np.full(n, -1, dtype=np.int64)
    dod[recent] = rng.integers(window[0], window[1] - 31, size=recent.size)
    past_low = np.maximum(dob[past] + 1, days(dt.date(1990, 1, 1)))
    dod[past] = past_low + (rng.random(past.size) * (window[0] - 1 - past_low)).astype(np.int64)

    # Places: birth registration province, residence usually the same province.
    provinces = codes.provinces
    province_weights = np.ones(provinces.size)
    province_weights[provinces == "01"] = 5.0
    province_weights[provinces == "79"] = 6.0
    birth_province = _pick(rng, list(provinces), n, province_weights)
    moved = rng.random(n) >= SAME_PROVINCE_SHARE
    residence_province = np.where(moved, _pick(rng, list(provinces), n, province_weights), birth_province)
    ward_index = codes.ward_offsets[residence_province] + (
        rng.random(n) * codes.ward_counts[residence_province]
    ).astype(np.int64)

    # Personal ID: PPP G YY RRRRRR, unique.
    birth_year = dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    century_sex = 2 * ((birth_year - 1900) // 100) + female
    id_prefix = np.char.add(
        np.char.add("0", provinces[birth_province]),
        np.char.add(century_sex.astype(str), np.char.zfill((birth_year % 100).astype(str), 2)),
    )
    person_id = unique_random_digits(rng, id_prefix, 6)
    has_cmnd = (birth_year < 2000) & (age_years >= 18) & (rng.random(n) < CMND_SHARE)
    cmnd_first = rng.integers(0, 4, size=int(has_cmnd.sum())).astype(str)
    cmnd = np.full(n, None, dtype=object)
    cmnd[has_cmnd] = unique_random_digits(rng, cmnd_first, 8)

    # Names: surname, middle, given; each person writes tone marks in one of two styles.
    surnames = list(vocab.SURNAMES)
    surname = _pick(rng, surnames, n, np.array(list(vocab.SURNAMES.values())))
    middle = (_pick(rng, vocab.MIDDLE_MALE, n), _pick(rng, vocab.MIDDLE_FEMALE, n))
    given = (
        _distinct_given(vocab.MIDDLE_MALE, middle[0], vocab.GIVEN_MALE, _pick(rng, vocab.GIVEN_MALE, n)),
        _distinct_given(
            vocab.MIDDLE_FEMALE, middle[1], vocab.GIVEN_FEMALE, _pick(rng, vocab.GIVEN_FEMALE, n)
        ),
    )
    old_style = rng.random(n) < 0.4
    name_new = _compose_name(surnames, surname, female, middle, given, style=None)
    name_old = _compose_name(surnames, surname, female, middle, given, style="old")

    phone_prefix = np.array(vocab.MOBILE_PREFIXES)[_pick(rng, vocab.MOBILE_PREFIXES, n)]
    phone = np.char.add(phone_prefix, _digits(rng, n, 7)).astype(object)
    phone[rng.random(n) >= PHONE_SHARE] = None

    frame = pl.DataFrame(
        {
            "person_id": person_id,
            "cmnd": pl.Series(cmnd.tolist(), dtype=pl.String),
            "name_new": name_new,
            "name_old": name_old,
            "old_style": old_style,
            "dob_days": dob,
            "female": female,
            "birth_province_legacy": provinces[birth_province],
            "residence_province_legacy": provinces[residence_province],
            "ward_legacy": codes.ward_codes[ward_index],
            "ward_2025": pl.Series(codes.ward_2025[ward_index].tolist(), dtype=pl.String),
            "phone": pl.Series(phone.tolist(), dtype=pl.String),
            "dod_days": dod,
            "birth_cohort": cohort,
        }
    )
    return frame.with_columns(
        full_name=pl.when("old_style").then("name_old").otherwise("name_new"),
        # The same name with the other tone style, where the name has a word that differs.
        name_other_style=pl.when(pl.col("name_old") == pl.col("name_new"))
        .then(None)
        .when("old_style")
        .then("name_new")
        .otherwise("name_old"),
        date_of_birth=pl.from_epoch("dob_days", time_unit="d"),
        sex=pl.when("female").then(pl.lit("female")).otherwise(pl.lit("male")),
        phone_e164=pl.lit("+84") + pl.col("phone").str.slice(1),
        deceased=pl.col("dod_days") >= 0,
        date_of_death=pl.when(pl.col("dod_days") >= 0).then(pl.from_epoch("dod_days", time_unit="d")),
        birth_province_2025=pl.col("birth_province_legacy").replace(vocab.PROVINCE_2025),
        residence_province_2025=pl.col("residence_province_legacy").replace(vocab.PROVINCE_2025),
    ).drop("name_new", "name_old", "old_style")


def _distinct_given(
    middles: tuple[str, ...], middle: np.ndarray, givens: tuple[str, ...], given: np.ndarray
) -> np.ndarray:
    """Given-name indices moved on where the given name repeats the middle name ("Đức Đức")."""
    last_middle = np.array([m.split(" ")[-1] for m in middles])
    pool = np.array(givens)
    for _ in range(3):
        clash = pool[given] == last_middle[middle]
        given = np.where(clash, (given + 1) % pool.size, given)
    return given


def _compose_name(
    surnames: list[str],
    surname: np.ndarray,
    female: np.ndarray,
    middle: tuple[np.ndarray, np.ndarray],
    given: tuple[np.ndarray, np.ndarray],
    style: str | None,
) -> pl.Series:
    """Full names (surname first); `middle`/`given` hold (male, female) pool indices."""

    def spelled(pool: tuple[str, ...] | list[str]) -> pl.Series:
        words = [vocab.old_tone_style(w) if style == "old" else w for w in pool]
        return pl.Series(words, dtype=pl.String)

    frame = pl.DataFrame(
        {
            "s": spelled(surnames).gather(surname),
            "mm": spelled(vocab.MIDDLE_MALE).gather(middle[0]),
            "mf": spelled(vocab.MIDDLE_FEMALE).gather(middle[1]),
            "gm": spelled(vocab.GIVEN_MALE).gather(given[0]),
            "gf": spelled(vocab.GIVEN_FEMALE).gather(given[1]),
            "female": female,
        }
    )
    return frame.select(
        pl.concat_str(
            "s",
            pl.when("female").then("mf").otherwise("mm"),
            pl.when("female").then("gf").otherwise("gm"),
            separator=" ",
        )
    ).to_series()
