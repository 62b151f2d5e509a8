"""Validation predicates of the rule book, as boolean Polars expressions.

Contract: True = the value passes; a null input passes (nullness is its own rule); each rule
judges only its own concern (the birth check passes an ID that is not 12 digits, because
`personal_id_well_formed` already fails it). quality/ compiles Great Expectations custom
expectations onto these. Arguments are expressions or column names.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from normalise.admin import CodeList, admin_tables
from normalise.phone import e164_valid_vn

ColumnOrExpr = pl.Expr | str

ENTERPRISE_CODE_WEIGHTS: tuple[int, ...] = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def _expr(value: ColumnOrExpr) -> pl.Expr:
    return pl.col(value) if isinstance(value, str) else value


def _passes(check: pl.Expr) -> pl.Expr:
    """A check whose null (from a null input) counts as a pass."""
    return check.fill_null(True)


def _matches(value: ColumnOrExpr, pattern: str) -> pl.Expr:
    return _passes(_expr(value).cast(pl.String).str.contains(pattern))


def personal_id_well_formed(personal_id: ColumnOrExpr) -> pl.Expr:
    """Exactly 12 digits."""
    return _matches(personal_id, r"^\d{12}$")


def personal_id_province_known(personal_id: ColumnOrExpr) -> pl.Expr:
    """PPP is "0" + one of the 63 legacy province codes (a warning: it may be a country code)."""
    pid = _expr(personal_id).cast(pl.String)
    known = pl.Series([f"0{code}" for code in admin_tables().legacy_provinces]).implode()
    well_formed = pid.str.contains(r"^\d{12}$")
    return _passes(pl.when(well_formed).then(pid.str.slice(0, 3).is_in(known)))


def _century_sex_digit(personal_id: pl.Expr) -> pl.Expr:
    pid = personal_id.cast(pl.String)
    return pl.when(pid.str.contains(r"^\d{12}$")).then(pid.str.slice(3, 1).cast(pl.Int32, strict=False))


def personal_id_birth_year(personal_id: ColumnOrExpr) -> pl.Expr:
    """Birth year from G and YY: 1900 + 100·(G // 2) + YY; null unless the ID is 12 digits."""
    pid = _expr(personal_id).cast(pl.String)
    century_sex = _century_sex_digit(pid)
    yy = pid.str.slice(4, 2).cast(pl.Int32, strict=False)
    return 1900 + 100 * (century_sex // 2) + yy


def personal_id_sex(personal_id: ColumnOrExpr) -> pl.Expr:
    """Sex from G: "male" for an even G, "female" for an odd one; null unless the ID is 12 digits."""
    century_sex = _century_sex_digit(_expr(personal_id))
    return (
        pl.when(century_sex.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(century_sex % 2 == 0)
        .then(pl.lit("male"))
        .otherwise(pl.lit("female"))
    )


def personal_id_matches_birth(
    personal_id: ColumnOrExpr, date_of_birth: ColumnOrExpr, sex: ColumnOrExpr
) -> pl.Expr:
    """G/YY agree with the date of birth's year and with sex ("male"/"female").

    Each side is checked only where it is known: a null date of birth skips the year check, a
    null sex skips the sex check (both null → True). A partial date (precision "year") still
    carries the right year, so it is checked like any other.
    """
    dob = _expr(date_of_birth)
    year_ok = _passes(personal_id_birth_year(personal_id) == dob.dt.year())
    sex_ok = _passes(personal_id_sex(personal_id) == _expr(sex))
    return year_ok & sex_ok


def cmnd_well_formed(value: ColumnOrExpr) -> pl.Expr:
    """Legacy ID card number: 9 digits (or 12, the cards of about 2012–2016)."""
    return _matches(value, r"^(?:\d{9}|\d{12})$")


def enterprise_check_digit(code: ColumnOrExpr) -> pl.Expr:
    """Expected 10th digit of an enterprise code (0–9), or null (shape wrong, or the sum gives 10)."""
    text = _expr(code).cast(pl.String)
    weighted = pl.sum_horizontal(
        [
            text.str.slice(position, 1).cast(pl.Int64, strict=False) * weight
            for position, weight in enumerate(ENTERPRISE_CODE_WEIGHTS)
        ]
    )
    check = 10 - weighted % 11
    return pl.when(text.str.contains(r"^\d{10}") & (check < 10)).then(check)


def enterprise_code_valid(code: ColumnOrExpr) -> pl.Expr:
    """10 digits with a correct check digit, optionally a "-NNN" branch suffix."""
    text = _expr(code).cast(pl.String)
    shape_ok = text.str.contains(r"^\d{10}(?:-\d{3})?$")
    digit_ok = enterprise_check_digit(text) == text.str.slice(9, 1).cast(pl.Int64, strict=False)
    return _passes(pl.when(text.is_not_null()).then(shape_ok & digit_ok.fill_null(False)))


def social_insurance_code_valid(code: ColumnOrExpr) -> pl.Expr:
    """Social insurance (BHXH) code: 10 digits."""
    return _matches(code, r"^\d{10}$")


def health_insurance_card_valid(value: ColumnOrExpr) -> pl.Expr:
    """Old 15-character card (group, benefit level 1–5, province, BHXH code) or the 10-digit form."""
    return _matches(value, r"^(?:[A-Z]{2}[1-5]\d{2}\d{10}|\d{10})$")


def province_code_known(code: ColumnOrExpr, code_list: CodeList = "legacy") -> pl.Expr:
    """The code is in the given province list (codes are 2-digit text)."""
    codes = pl.Series(admin_tables().provinces(code_list), dtype=pl.String).implode()
    return _passes(_expr(code).cast(pl.String).is_in(codes))


def ward_code_known(code: ColumnOrExpr, code_list: CodeList = "legacy") -> pl.Expr:
    """The code is in the given ward list (codes are 5-digit text)."""
    codes = pl.Series(admin_tables().wards(code_list), dtype=pl.String).implode()
    return _passes(_expr(code).cast(pl.String).is_in(codes))


def date_not_in_future(value: ColumnOrExpr, today: dt.date) -> pl.Expr:
    """The date is not after `today` (pass the run date: rules stay deterministic)."""
    return _passes(_expr(value) <= pl.lit(today))


def date_order(earlier: ColumnOrExpr, later: ColumnOrExpr) -> pl.Expr:
    """earlier <= later (e.g. date of birth before date of death); either null → True."""
    return _passes(_expr(earlier) <= _expr(later))


def phone_valid_vn(e164: ColumnOrExpr) -> pl.Expr:
    """An E.164 string that `phonenumbers` accepts as a Vietnamese number."""
    return _passes(e164_valid_vn(_expr(e164).cast(pl.String)))
