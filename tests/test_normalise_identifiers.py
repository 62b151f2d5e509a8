"""Personal IDs, digit strings, enterprise codes and VND amounts."""

import polars as pl
import pytest

from normalise import normaliser


def run(name: str, raw: list, /, **options) -> list:
    frame = pl.DataFrame({"raw": pl.Series(raw, dtype=pl.String)})
    return frame.select(normaliser(name)(pl.col("raw"), **options)).to_series().to_list()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("001085012345", "001085012345"),
        (" 079 301 012 345 ", "079301012345"),
        ("079.301.012.345", "079301012345"),
        ("1085012345", "001085012345"),  # Hà Nội 001: two zeros lost in a spreadsheet
        ("12085012345", "012085012345"),  # 012 Lai Châu: one zero lost
        ("1085012345.0", "001085012345"),  # went through a float column
        ("123456789.0", "123456789"),
        ("001 085 012 345.0", "001085012345"),
        ("1.085.012.345.0", "001085012345"),
        (".0", None),
        ("A1.0", "A1.0"),  # not a number: left for validation as written
        (": .0", ": .0"),  # once came back ": ", and ":" from a second run
        ("- .0", "-"),
        ("123456789", "123456789"),  # a legacy CMND: not padded
        ("12345", "12345"),
        ("0010850123456", "0010850123456"),
        ("00108501234A", "00108501234A"),
        ("", None),
        (None, None),
    ],
)
def test_personal_id(raw, expected):
    assert run("personal_id", [raw]) == [expected]


def test_digits_strips_separators_and_keeps_text():
    assert run("digits", ["012 345.678-9", "0000", " - ", None]) == ["0123456789", "0000", None, None]


def test_a_number_s_float_tail_is_not_a_digit():
    """A code that went through a float column (pandas' integers with a gap; a DOUBLE) ends in
    ".0". Read as a digit, it made a 9-digit social insurance code that lost its leading zero into
    a valid-looking 10-digit one that is someone else's, and a right one 11 digits long."""
    assert run("digits", ["123456789.0", "1234567890.0", "12 345.0", "12.30"]) == [
        "123456789", "1234567890", "12345", "1230"
    ]  # fmt: skip
    assert run("enterprise_code", ["101234567.0", "0101234567.0", "0101234567001.0"]) == [
        "101234567", "0101234567", "0101234567-001"
    ]  # fmt: skip
    floats = pl.DataFrame({"raw": [123456789.0, 1234567890.0, None]})
    assert floats.select(normaliser("digits")(pl.col("raw"))).to_series().to_list() == ["123456789", "1234567890", None]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0100109106", "0100109106"),
        ("0100109106-001", "0100109106-001"),
        ("0100109106001", "0100109106-001"),
        ("0100109106 - 001", "0100109106-001"),
        ("010.010.9106", "0100109106"),
        ("0100109106-", "0100109106-"),
        ("ABC", "ABC"),
        (None, None),
    ],
)
def test_enterprise_code(raw, expected):
    assert run("enterprise_code", [raw]) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4500000", 4500000),
        ("4.500.000", 4500000),
        ("4,500,000", 4500000),
        ("4 500 000", 4500000),
        ("4.500.000 đ", 4500000),
        ("4500000 VND", 4500000),
        ("4500000.0", 4500000),
        ("-1.000", -1000),
        ("4.5", None),
        ("abc", None),
        ("99999999999999999999", None),
        (None, None),
    ],
)
def test_integer(raw, expected):
    assert run("integer", [raw]) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.500.000,50", 1500000.5),
        ("1,500,000.50", 1500000.5),
        ("1,5", 1.5),
        ("0.25", 0.25),
        ("1.500", 1500.0),  # one dot + three digits: a VND thousand separator
        ("12", 12.0),
        ("1.2.3", None),
        (None, None),
    ],
)
def test_decimal(raw, expected):
    assert run("decimal", [raw]) == [expected]
