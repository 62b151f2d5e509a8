"""Validation predicates: True = passes, null input passes, each rule judges its own concern."""

import datetime as dt

import polars as pl
import pytest

from normalise import rules


def check(rule, *columns: list, **kwargs) -> list:
    frame = pl.DataFrame({f"c{i}": values for i, values in enumerate(columns)}, strict=False)
    args = [pl.col(f"c{i}") for i in range(len(columns))]
    return frame.select(rule(*args, **kwargs)).to_series().to_list()


def reference_check_digit(code: str) -> int | None:
    """Independent implementation of the rule book's enterprise code check digit."""
    weights = [31, 29, 23, 19, 17, 13, 7, 5, 3]
    total = sum(int(d) * w for d, w in zip(code[:9], weights, strict=True))
    digit = 10 - total % 11
    return None if digit == 10 else digit


def test_personal_id_well_formed():
    raw = ["001085012345", "00108501234", "00108501234A", "123456789", None]
    assert check(rules.personal_id_well_formed, raw) == [True, False, False, False, True]


def test_personal_id_province_known():
    raw = ["001085012345", "096185012345", "003085012345", "099085012345", "12345", None]
    assert check(rules.personal_id_province_known, raw) == [True, True, False, False, True, True]


@pytest.mark.parametrize(
    ("personal_id", "year", "sex"),
    [
        ("001085012345", 1985, "male"),
        ("001185012345", 1985, "female"),
        ("079203012345", 2003, "male"),
        ("079399012345", 2099, "female"),
        ("036400012345", 2100, "male"),
        ("0010850123", None, None),
    ],
)
def test_birth_year_and_sex_from_id(personal_id, year, sex):
    assert check(rules.personal_id_birth_year, [personal_id]) == [year]
    assert check(rules.personal_id_sex, [personal_id]) == [sex]


def test_personal_id_matches_birth():
    ids = ["001085012345", "001085012345", "001185012345", "001085012345", "079203012345",
           "001085012345", "001085012345", None, "12345"]  # fmt: skip
    dobs = [dt.date(1985, 3, 1), dt.date(1986, 3, 1), dt.date(1985, 3, 1), dt.date(1985, 1, 1),
            dt.date(1903, 1, 1), None, None, dt.date(1985, 1, 1), dt.date(1985, 1, 1)]  # fmt: skip
    sexes = ["male", "male", "male", None, "male", None, "female", "male", "male"]
    # dob 1985-01-01 stands for a year-precision date (00/00/1985): its year is still checked.
    assert check(rules.personal_id_matches_birth, ids, dobs, sexes) == [
        True,  # all agree
        False,  # YY 85 vs 1986
        False,  # G=1 is female
        True,  # sex unknown, year agrees
        False,  # G=2 means 2000s, not 1903
        True,  # nothing to compare
        False,  # dob unknown, but sex disagrees
        True,  # null ID
        True,  # malformed ID: personal_id_well_formed's business
    ]


def test_cmnd_well_formed():
    raw = ["012345678", "001085012345", "12345678", "01234567A", None]
    assert check(rules.cmnd_well_formed, raw) == [True, True, False, False, True]


def test_enterprise_code_known_real_codes():
    # Viettel (0100109106) and Vinamilk (0300588569): the reference agrees with their last digit.
    for code in ["0100109106", "0300588569"]:
        assert reference_check_digit(code) == int(code[9])
    raw = ["0100109106", "0300588569", "0100109106-001", "0100109107", "0100109106-01",
           "010010910", "01001091066", "ABCDEFGHIJ", None]  # fmt: skip
    assert check(rules.enterprise_code_valid, raw) == [
        True, True, True, False, False, False, False, False, True,
    ]  # fmt: skip


def test_enterprise_code_against_reference_on_many_codes():
    prefixes = [f"{n:09d}" for n in range(100_000_000, 100_000_000 + 7919 * 400, 7919)]
    codes = [p + str(d) for p in prefixes for d in range(10)]
    expected = [reference_check_digit(c) == int(c[9]) for c in codes]
    assert check(rules.enterprise_code_valid, codes) == expected
    # a prefix whose weighted sum is 0 mod 11 has no valid check digit at all
    impossible = [p for p in prefixes if reference_check_digit(p + "0") is None]
    assert impossible, "the sample should contain a sum ≡ 0 (mod 11) prefix"
    assert not any(check(rules.enterprise_code_valid, [impossible[0] + str(d) for d in range(10)]))


def test_social_and_health_insurance():
    assert check(rules.social_insurance_code_valid, ["0123456789", "012345678", None]) == [
        True, False, True,
    ]  # fmt: skip
    cards = ["DN4010123456789", "HT3790123456789", "0123456789", "DN6010123456789",
             "dn4010123456789", "DN401012345678", None]  # fmt: skip
    assert check(rules.health_insurance_card_valid, cards) == [
        True, True, True, False, False, False, True,
    ]  # fmt: skip


def test_province_and_ward_known_per_list():
    codes = ["72", "80", "99", None]
    assert check(rules.province_code_known, codes, code_list="legacy") == [True, True, False, True]
    assert check(rules.province_code_known, codes, code_list="2025") == [False, True, False, True]
    wards = ["00013", "00004", "99999", None]
    assert check(rules.ward_code_known, wards, code_list="legacy") == [True, True, False, True]
    assert check(rules.ward_code_known, wards, code_list="2025") == [False, True, False, True]


def test_dates():
    today = dt.date(2025, 7, 1)
    days = [dt.date(2025, 7, 1), dt.date(2025, 7, 2), None]
    assert check(rules.date_not_in_future, days, today=today) == [True, False, True]
    births = [dt.date(1950, 1, 1), dt.date(1990, 1, 1), None, dt.date(1990, 1, 1)]
    deaths = [dt.date(2020, 1, 1), dt.date(1980, 1, 1), dt.date(1980, 1, 1), dt.date(1990, 1, 1)]
    assert check(rules.date_order, births, deaths) == [True, False, True, True]


def test_phone_valid_vn():
    raw = ["+84912345678", "+842438251234", "+84123456789", "0912345678", "+1202555013", None]
    assert check(rules.phone_valid_vn, raw) == [True, True, False, False, False, True]


def test_rules_accept_column_names():
    frame = pl.DataFrame({"so_dinh_danh": ["001085012345", "1"]})
    assert frame.select(rules.personal_id_well_formed("so_dinh_danh")).to_series().to_list() == [
        True, False,
    ]  # fmt: skip
