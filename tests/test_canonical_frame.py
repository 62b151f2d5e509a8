"""canonical_frame (each distinct source value normalised once, derived normalisers from their
base's output) gives exactly the values of the row-by-row expressions, for every shipped table."""

from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogue import load_catalogue
from pipeline.mapping import canonical_columns, canonical_frame

# Values the rule book meets: blanks, control and invisible characters, both Đ forms, partial and
# impossible dates, Excel serials, phones in every layout, codes with and without zeros.
POOL = [
    None, "", " ", "\x00", "\u200b", "Ðỗ  Văn\tAn", "nguyễn thị thuỷ", "NGUYỄN VĂN A", "=1+1",
    "00/00/1950", "00/07/1950", "31/02/1990", "1/1/0", "15/08/2026", "2026-08-15", "33604", "33604.5",
    "2026-08-15 10:00:00", "0912345678", "+84 912 345 678", "0084912345678", "01646436264", "912345678",
    "0438251234", "04 3825 1234", "079123456789", "79123456789", "123456789", "1.0", "01", "1", "79",
    "00004", "4", "26734", "Nam", "Nữ", "nữ ", "M", "F", "0", "con_song", "da_chet", "1.500.000", "1,5",
    "0101234567", "0101234567-001", "x",
]  # fmt: skip


def _tables():
    return [ref for ref in load_catalogue().tables if ref.table.columns]


def _frame(ref, rows: int, distinct: bool, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    sources = dict.fromkeys(m.source for m in ref.table.columns)
    columns = {}
    for source in sources:
        if distinct:  # every value its own: normalised row by row
            values = [f"{rng.choice([v for v in POOL if v is not None])}{i}" for i in range(rows)]
        else:  # repeats: normalised by distinct value, nulls included
            values = [rng.choice(POOL) for _ in range(rows)]
        columns[source] = pl.Series(source, values, dtype=pl.String)
    return pl.DataFrame(columns)


@pytest.mark.parametrize("distinct", [False, True], ids=["repeated", "distinct"])
def test_every_table_gives_the_row_by_row_values(distinct):
    for number, ref in enumerate(_tables()):
        raw = _frame(ref, 600, distinct, seed=number)
        expected = raw.select(canonical_columns(ref.table, ref.entity))
        got = canonical_frame(raw, ref.table, ref.entity)
        assert got.schema == expected.schema, ref.key
        assert got.equals(expected), ref.key


def test_known_columns_are_taken_not_made_again():
    # The duplicate pass's canonical key and version (pipeline/judge.py: normalised_keys), and a
    # derived column's base (phone for phone_valid): the rest is still made, to the same values.
    for number, ref in enumerate(_tables()):
        raw = _frame(ref, 300, number % 2 == 0, seed=number)
        expected = raw.select(canonical_columns(ref.table, ref.entity))
        for names in (ref.entity.primary_key, [m.to for m in ref.table.columns][:2]):
            known = expected.select(names)
            assert canonical_frame(raw, ref.table, ref.entity, known).equals(expected), (ref.key, names)
    ref = load_catalogue().table("population.citizens")
    raw = _frame(ref, 300, False, seed=3)
    expected = raw.select(canonical_columns(ref.table, ref.entity))
    assert canonical_frame(raw, ref.table, ref.entity, expected.select("phone")).equals(expected)


def test_typed_source_columns_and_an_empty_slice():
    ref = load_catalogue().table("population.citizens")
    raw = _frame(ref, 300, False, seed=7).with_columns(
        pl.Series("ma_tinh_khai_sinh", [1, 79, None] * 100, dtype=pl.Int64),  # an integer column
        pl.Series("ngay_mat", [None] * 300, dtype=pl.String),  # all missing
    )
    assert canonical_frame(raw, ref.table, ref.entity).equals(raw.select(canonical_columns(ref.table, ref.entity)))
    empty = raw.head(0)
    assert canonical_frame(empty, ref.table, ref.entity).equals(empty.select(canonical_columns(ref.table, ref.entity)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.sampled_from(POOL), st.text(max_size=15)), min_size=1, max_size=40))
def test_any_phone_column(values):
    ref = load_catalogue().table("population.citizens")
    raw = _frame(ref, len(values), False, seed=1).with_columns(pl.Series("so_dien_thoai", values, dtype=pl.String))
    assert canonical_frame(raw, ref.table, ref.entity).equals(raw.select(canonical_columns(ref.table, ref.entity)))


def test_only_values_that_repeat_are_normalised_apart():
    from pipeline.mapping import repeating_values

    codes = pl.Series(["01", "79", None, "01"] * 500)
    assert sorted(repeating_values(codes).to_list(), key=str) == sorted(["01", "79", None], key=str)
    assert repeating_values(pl.Series([f"{i:012d}" for i in range(2000)])) is None  # IDs barely repeat
    assert repeating_values(pl.Series([0.0, -0.0, float("nan")] * 100)) is None  # floats: equal ≠ hash-equal


@pytest.mark.parametrize("number_type", [pl.Float64, pl.Decimal(38, 10)], ids=["float", "decimal"])
def test_numbers_in_a_number_column_land_as_the_same_numbers_as_text(number_type):
    """pandas writes a column of integers with a gap as floats (912345678.0); connectorx reads
    every SQL NUMERIC, even NUMERIC(12,0), as a decimal of scale 10 (912345678.0000000000). The
    same people sent so land as when sent as text (the leading zeros a number cannot hold restored
    where the rule book can: IDs, mobile phones)."""
    ref = load_catalogue().table("social_insurance.insured_persons")
    as_text = {
        "ma_so_bhxh": ["7912345678", "1234567890", None],
        "so_dinh_danh": ["079123456789", "001085012345", None],
        "so_dien_thoai": ["0912345678", "0387654321", None],
        "ma_tinh": ["79", "01", None],
        "gioi_tinh": ["1", "0", None],
    }
    as_numbers = {
        "ma_so_bhxh": [7912345678, 1234567890, None],
        "so_dinh_danh": [79123456789, 1085012345, None],
        "so_dien_thoai": [912345678, 387654321, None],
        "ma_tinh": [79, 1, None],
        "gioi_tinh": [1, 0, None],
    }
    numbers = pl.DataFrame({name: pl.Series(values).cast(number_type) for name, values in as_numbers.items()})
    rest = {"ho_ten": ["Lê Văn An", "Trần Thị Bình", "Phạm Cường"], "ngay_sinh": ["1990-01-02"] * 3,
            "ngay_cap_nhat": ["2026-08-15 10:00:00"] * 3}  # fmt: skip
    compared = ["social_insurance_code", "personal_id", "phone", "phone_raw", "phone_valid", "sex",
                "office_province_legacy", "office_province_2025"]  # fmt: skip
    expected = canonical_frame(pl.DataFrame({**as_text, **rest}), ref.table, ref.entity).select(compared)
    got = canonical_frame(numbers.with_columns(**{k: pl.Series(v) for k, v in rest.items()}), ref.table, ref.entity)
    assert expected["phone_valid"].to_list() == [True, True, None]
    assert expected["sex"].to_list() == ["male", "female", None]
    assert got.select(compared).drop("phone_raw").equals(expected.drop("phone_raw")), got
    assert got["phone_raw"].to_list() == ["912345678", "387654321", None]  # the number as the source holds it
