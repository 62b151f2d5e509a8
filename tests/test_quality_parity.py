"""Parity: GE's own pandas engine and the compiled Polars rules find the same unexpected rows.

For every entity suite, a fixture frame is drawn (seeded) from value pools that mix clean values
with the demo's dirt (malformed IDs, ID/birth mismatches, unknown admin codes, future dates, death
before birth, bad check digits, duplicate keys, nulls, blanks). Every rule must be broken by some
rows and kept by others, so equal counts are not equal by emptiness.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest
import yaml

from normalise.admin import admin_tables
from quality.compile import compile_suite, flag_rows, rule_counts
from quality.ge_engine import unexpected_counts_with_ge
from quality.suites import load_suite

# A run date in the past, and dates after it that are before the real today: both engines must
# judge "future" against the run date, not the clock.
TODAY = dt.date(2020, 6, 30)
ROWS = 80
ENTITIES_DIR = Path(__file__).resolve().parents[1] / "catalogue" / "entities"
ENTITIES = {path.stem: yaml.safe_load(path.read_text()) for path in sorted(ENTITIES_DIR.glob("*.yml"))}

PERSONAL_IDS = [
    "001090123456",
    "079195000001",
    "038201004321",
    "00109012345",
    "12345678901a",
    "999090123456",
    None,
]
DATES = [
    dt.date(1990, 5, 1),
    dt.date(1995, 1, 1),
    dt.date(2001, 3, 9),
    dt.date(1850, 1, 1),
    dt.date(2020, 7, 1),
    dt.date(2030, 1, 1),
    None,
]
ENTERPRISE_CODES = ["0100109106", "0100109107", "0100109106-001", "12345", None]
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "", "   ", None]


def _pool(name: str, kind: str, primary_key: list[str]) -> list:
    tables = admin_tables()
    if name in primary_key and name not in {"personal_id", "enterprise_code", "social_insurance_code"}:
        size = ROWS // 4  # draws from fewer values than rows: duplicate keys
        return [*(range(size) if kind == "int" else (f"K{i:03}" for i in range(size))), None]
    if name.endswith("personal_id"):
        return PERSONAL_IDS
    if name == "cmnd":
        return ["123456789", "12", "123456789012", None]
    if name in {"enterprise_code", "employer_code"}:
        return ENTERPRISE_CODES
    if name == "social_insurance_code":
        return ["0123456789", "7912345678", "012345678", None]
    if name in {"full_name", "name", "husband_name", "wife_name"}:
        return NAMES
    if name == "sex":
        return ["male", "female", "m", None]
    if name == "vital_status":
        return ["alive", "deceased", "dead", None]
    if name.endswith("_raw") and name.startswith("date"):
        return ["15/03/1990", "31/02/1990", "00/07/1950", "không rõ", None]
    if name == "date_of_birth_precision":
        return ["day", "month", "year", "decade", None]
    if "province" in name:
        return [*tables.provinces("legacy")[:2], *tables.provinces("2025")[-2:], "99", None]
    if "ward" in name and kind == "string":
        return [*sorted(tables.wards("legacy"))[:2], *sorted(tables.wards("2025"))[-2:], "99999", None]
    if kind == "date":
        return DATES
    if kind == "datetime":
        return [dt.datetime(2025, 6, 1, 8, 30), None]
    if kind == "bool":
        return [True, False, None]
    if kind == "int":
        return [-5, 0, 1_500_000, 9_000_000, None]
    return ["x", "y", None]


def _dirty_frame(entity: dict, seed: int) -> pl.DataFrame:
    draw = random.Random(seed)
    dtypes = {
        "string": pl.String,
        "date": pl.Date,
        "datetime": pl.Datetime("us"),
        "int": pl.Int64,
        "bool": pl.Boolean,
    }
    return pl.DataFrame(
        {
            column["name"]: pl.Series(
                [
                    draw.choice(_pool(column["name"], column["type"], entity["primary_key"]))
                    for _ in range(ROWS)
                ],
                dtype=dtypes[column["type"]],
            )
            for column in entity["columns"]
        }
    )


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_ge_pandas_engine_and_compiled_polars_agree(entity):
    declared = ENTITIES[entity]
    suite = load_suite(declared["suite"])
    compiled = compile_suite(suite, today=TODAY)
    frame = _dirty_frame(declared, seed=sum(map(ord, entity)))

    polars_counts = rule_counts(flag_rows(frame, compiled), compiled)
    ge_counts = unexpected_counts_with_ge(frame, suite, today=TODAY)

    assert polars_counts == {rule_id: ge_counts[rule_id] for rule_id in polars_counts}
    vacuous = [rule_id for rule_id, count in polars_counts.items() if not 0 < count < ROWS]
    assert vacuous == [], "the fixture must break and keep every rule"


def test_ge_failures_raise_instead_of_counting_as_one_row():
    # GE parses "1900-01-01" to a date, which pandas cannot compare with datetime64[ns]: the
    # suites write date bounds as ISO datetimes for that reason. GE reports it per metric.
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name="dates",
        expectations=[
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="d", min_value="1900-01-01", meta={"rule_id": "d.after_1900"}
            )
        ],
    )
    frame = pl.DataFrame({"d": [dt.date(1850, 1, 1), dt.date(1990, 1, 1)]})
    with pytest.raises(RuntimeError, match=r"rule 'd.after_1900'.*Invalid comparison"):
        unexpected_counts_with_ge(frame, suite)


def _expectation(kind: str, rule_id: str, **kwargs):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    return ExpectationConfiguration(type=kind, kwargs=kwargs, meta={"rule_id": rule_id}).to_domain_obj()


def test_the_core_expectations_compiled_since_issue_10_agree_with_ge():
    # Every row-level core expectation the compiler took on for issue 10, on values chosen to
    # break and keep each: impossible and partial dates, fuzzy text, repeated and missing values.
    import great_expectations as gx

    draw = random.Random(10)
    raw_dates = ["15/03/1990", "31/02/1990", "00/07/1950", "1/2/1990", "1990-03-15", "không rõ", " ", None]
    frame = pl.DataFrame(
        {
            "raw": [draw.choice(raw_dates) for _ in range(ROWS)],
            "text": [draw.choice(["ab12", "AB", "12", "zz", None]) for _ in range(ROWS)],
            "a": [draw.choice(["x", "y", None]) for _ in range(ROWS)],
            "b": [draw.choice(["x", "z", None]) for _ in range(ROWS)],
            "n1": [draw.choice([1, 2, 3, None]) for _ in range(ROWS)],
            "n2": [draw.choice([1, 2, None]) for _ in range(ROWS)],
            "parsed": [draw.choice([dt.date(1990, 1, 1), None]) for _ in range(ROWS)],
        }
    )
    nullity = {"type": "nullity", "column": {"name": "raw"}, "is_null": False}
    suite = gx.ExpectationSuite(
        name="issue10",
        expectations=[
            _expectation(
                "expect_column_values_to_match_strftime_format",
                "raw.dmy",
                column="raw",
                strftime_format="%d/%m/%Y",
            ),
            _expectation("expect_column_values_to_be_dateutil_parseable", "raw.dateutil", column="raw"),
            _expectation(
                "expect_column_values_to_match_regex_list",
                "text.any",
                column="text",
                regex_list=["^[a-z]", "\\d$"],
            ),
            _expectation(
                "expect_column_values_to_match_regex_list",
                "text.all",
                column="text",
                regex_list=["[A-Za-z]", "\\d"],
                match_on="all",
            ),
            _expectation(
                "expect_column_values_to_not_match_regex_list",
                "text.none",
                column="text",
                regex_list=["^z", "^1"],
            ),
            _expectation(
                "expect_column_pair_values_to_be_in_set",
                "ab.pairs",
                column_A="a",
                column_B="b",
                value_pairs_set=[["x", "x"], ["y", "z"]],
            ),
            _expectation("expect_multicolumn_sum_to_equal", "n.sum", column_list=["n1", "n2"], sum_total=3),
            _expectation(
                "expect_select_column_values_to_be_unique_within_record",
                "ab.distinct",
                column_list=["a", "b"],
            ),
            _expectation("expect_multicolumn_values_to_be_equal", "ab.equal", column_list=["a", "b"]),
            _expectation(
                "expect_column_values_to_not_be_null",
                "parsed.when_raw",
                column="parsed",
                row_condition=nullity,
            ),
            _expectation(
                "expect_column_values_to_be_in_set",
                "text.when_x",
                column="text",
                value_set=["AB"],
                row_condition={
                    "type": "comparison",
                    "column": {"name": "a"},
                    "operator": "==",
                    "parameter": "x",
                },
            ),
        ],
    )
    compiled = compile_suite(suite, today=TODAY)

    polars_counts = rule_counts(flag_rows(frame, compiled), compiled)
    ge_counts = unexpected_counts_with_ge(frame, suite, today=TODAY)

    assert polars_counts == {rule_id: ge_counts[rule_id] for rule_id in polars_counts}
    assert len(polars_counts) == 11
    vacuous = [rule_id for rule_id, count in polars_counts.items() if not 0 < count < ROWS]
    assert vacuous == [], "the fixture must break and keep every rule"


def test_every_expectation_ge_knows_is_compiled_left_to_ge_or_refused_with_a_reason():
    from great_expectations.expectations.registry import _registered_expectations

    from quality.compile import COMPILERS, DATASET_LEVEL, NOT_SUPPORTED

    unclassified = sorted(
        kind for kind in _registered_expectations if kind not in {*COMPILERS, *DATASET_LEVEL, *NOT_SUPPORTED}
    )
    assert unclassified == []
