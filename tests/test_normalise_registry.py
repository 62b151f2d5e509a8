"""Registry: the catalogue's names, lookup errors and option checks."""

import polars as pl
import pytest

from normalise import NORMALISERS, check_options, normaliser

CATALOGUE_NAMES = {
    "text", "name", "name_key", "name_key_accented", "personal_id", "digits", "date",
    "date_precision", "month", "datetime", "sex", "phone", "phone_valid", "province_code",
    "province_2025", "ward_code", "ward_2025", "ward_2025_candidates", "ward_needs_review",
    "enterprise_code", "integer", "decimal", "lower", "upper", "map",
}  # fmt: skip


def test_all_catalogue_names_are_registered():
    assert set(NORMALISERS) == CATALOGUE_NAMES


def test_every_normaliser_returns_an_expression():
    options = {"map": {"values": {"a": "b"}}}
    for name, function in NORMALISERS.items():
        assert isinstance(function(pl.col("x"), **options.get(name, {})), pl.Expr), name


def test_unknown_normaliser_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown normaliser 'dob'.*date, date_precision"):
        normaliser("dob")


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("date", {"fmt": "%d/%m/%Y"}, "'date': unknown option 'fmt'; known options: excel_serial, format"),
        ("date", {"format": 5}, "option 'format' must be a strftime format"),
        ("date", {"format": ["dd/mm/yyyy"]}, "option 'format' must be a strftime format"),
        ("date", {"excel_serial": "yes"}, "option 'excel_serial' must be true or false"),
        ("text", {"strip": True}, "'text': unknown option 'strip'; known options: none"),
        ("province_code", {"code_list": "2024"}, "option 'code_list' must be one of 'legacy', '2025'"),
        ("province_2025", {"from": "new"}, "option 'from' must be one of"),
        ("map", {}, "missing required option 'values'"),
        ("map", {"values": ["a"]}, "option 'values' must be a mapping"),
        ("sex", {"values": {"Nam": 1}}, "option 'values' must be a mapping"),
        ("nope", {}, "unknown normaliser 'nope'"),
    ],
)
def test_check_options_names_the_problem(name, options, message):
    with pytest.raises(ValueError, match=message):
        check_options(name, options)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("date", {"format": "%d/%m/%Y", "excel_serial": True}),
        ("date_precision", {"format": ["%d/%m/%Y", "%Y-%m-%d"]}),
        ("month", {"format": "%m/%Y"}),
        ("sex", {"values": {"Nam": "male", "Nữ": "female"}}),
        ("map", {"values": {"a": "b"}, "default": None}),
        ("province_code", {"code_list": "2025", "unknown": "null"}),
        ("ward_2025", {"from": "legacy"}),
        ("phone", {}),
    ],
)
def test_check_options_accepts_valid_options(name, options):
    check_options(name, options)
    frame = pl.DataFrame({"x": ["1"]})
    frame.select(normaliser(name)(pl.col("x"), **options))
