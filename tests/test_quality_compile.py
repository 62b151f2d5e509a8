"""The suite → Polars compiler: one test per expectation type, GE's null semantics, errors, flags, results."""

from __future__ import annotations

import datetime as dt

import great_expectations as gx
import polars as pl
import pytest

import quality.expectations  # noqa: F401  registers the custom expectation types
from quality.compile import (
    ERRORS_COLUMN,
    WARNINGS_COLUMN,
    SuiteCompileError,
    compile_suite,
    flag_rows,
    rule_counts,
)
from quality.validation import validation_result

TODAY = dt.date(2026, 1, 15)


def _suite(*expectations: tuple[str, dict, dict], name: str = "unit") -> gx.ExpectationSuite:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configs = [
        ExpectationConfiguration(type=kind, kwargs=kwargs, meta=meta) for kind, kwargs, meta in expectations
    ]
    return gx.ExpectationSuite(name=name, expectations=configs)


def _broken(frame: pl.DataFrame, kind: str, **kwargs) -> list[bool]:
    """The compiled `broken` column of one expectation over `frame`."""
    compiled = compile_suite(_suite((kind, kwargs, {"rule_id": "r"})), today=TODAY)
    assert len(compiled.rules) == 1
    return frame.select(compiled.rules[0].broken).to_series().to_list()


S = pl.DataFrame({"s": ["abc", "a1", "", None, "ABCD"]})
N = pl.DataFrame({"n": [1, 5, 10, None, -3]})
D = pl.DataFrame({"d": [dt.date(1899, 12, 31), dt.date(1900, 1, 1), TODAY, dt.date(2030, 1, 1), None]})


def test_not_null_breaks_only_on_null():
    assert _broken(S, "expect_column_values_to_not_be_null", column="s") == [False, False, False, True, False]


def test_be_null_breaks_on_any_value():
    assert _broken(S, "expect_column_values_to_be_null", column="s") == [True, True, True, False, True]


def test_regex_is_an_unanchored_search_and_ignores_nulls():
    assert _broken(S, "expect_column_values_to_match_regex", column="s", regex=r"\d") == [
        True,
        False,
        True,
        False,
        True,
    ]
    assert _broken(S, "expect_column_values_to_match_regex", column="s", regex=r"^[a-z]+$") == [
        False,
        True,
        True,
        False,
        True,
    ]


def test_not_match_regex():
    assert _broken(S, "expect_column_values_to_not_match_regex", column="s", regex=r"\d") == [
        False,
        True,
        False,
        False,
        False,
    ]


def test_in_set_and_not_in_set_ignore_nulls():
    assert _broken(S, "expect_column_values_to_be_in_set", column="s", value_set=["abc", ""]) == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert _broken(S, "expect_column_values_to_not_be_in_set", column="s", value_set=["abc"]) == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_in_set_on_booleans():
    frame = pl.DataFrame({"b": [True, False, None]})
    assert _broken(frame, "expect_column_values_to_be_in_set", column="b", value_set=[True]) == [
        False,
        True,
        False,
    ]


def test_between_numbers_inclusive_and_strict():
    kind = "expect_column_values_to_be_between"
    assert _broken(N, kind, column="n", min_value=1, max_value=5) == [False, False, True, False, True]
    assert _broken(N, kind, column="n", min_value=1, max_value=10, strict_min=True) == [
        True,
        False,
        False,
        False,
        True,
    ]
    assert _broken(N, kind, column="n", max_value=5, strict_max=True) == [False, True, True, False, False]
    assert _broken(N, kind, column="n", min_value=0) == [False, False, False, False, True]


def test_between_dates_with_iso_bounds_and_the_today_parameter():
    kind = "expect_column_values_to_be_between"
    assert _broken(D, kind, column="d", min_value="1900-01-01") == [True, False, False, False, False]
    today = {"$PARAMETER": "today"}
    assert _broken(D, kind, column="d", min_value="1900-01-01", max_value=today) == [
        True,
        False,
        False,
        True,
        False,
    ]


def test_value_lengths():
    assert _broken(S, "expect_column_value_lengths_to_be_between", column="s", min_value=1, max_value=3) == [
        False,
        False,
        True,
        False,
        True,
    ]
    assert _broken(S, "expect_column_value_lengths_to_equal", column="s", value=2) == [
        True,
        False,
        True,
        False,
        True,
    ]


def test_unique_flags_every_occurrence_but_not_nulls():
    frame = pl.DataFrame({"k": ["a", "b", "a", None, None, "c"]})
    assert _broken(frame, "expect_column_values_to_be_unique", column="k") == [
        True,
        False,
        True,
        False,
        False,
        False,
    ]


def test_unique_is_global_over_a_lazy_frame():
    frame = pl.DataFrame({"k": [1, 2, 3] * 2 + [4]}).lazy()
    compiled = compile_suite(
        _suite(("expect_column_values_to_be_unique", {"column": "k"}, {"rule_id": "k.unique"})), today=TODAY
    )
    assert rule_counts(flag_rows(frame, compiled).collect(), compiled) == {"k.unique": 6}


PAIRS = pl.DataFrame({"a": [2, 2, 1, None, 3, None], "b": [1, 2, 2, 1, None, None]})


def test_pair_greater_than_default_ignores_only_both_missing():
    kind = "expect_column_pair_values_a_to_be_greater_than_b"
    assert _broken(PAIRS, kind, column_A="a", column_B="b") == [False, True, True, True, True, False]
    assert _broken(PAIRS, kind, column_A="a", column_B="b", or_equal=True) == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]


def test_pair_ignore_row_if_variants():
    kind = "expect_column_pair_values_a_to_be_greater_than_b"
    either = _broken(
        PAIRS, kind, column_A="a", column_B="b", or_equal=True, ignore_row_if="either_value_is_missing"
    )
    assert either == [False, False, True, False, False, False]
    neither = _broken(PAIRS, kind, column_A="a", column_B="b", ignore_row_if="neither")
    assert neither == [False, True, True, True, True, True]


def test_pair_equal():
    assert _broken(PAIRS, "expect_column_pair_values_to_be_equal", column_A="a", column_B="b") == [
        True,
        False,
        True,
        True,
        True,
        False,
    ]


def test_compound_unique_ignores_all_missing_rows_by_default():
    frame = pl.DataFrame({"x": [1, 1, 1, None, None], "y": ["a", "a", "b", None, None]})
    kind = "expect_compound_columns_to_be_unique"
    assert _broken(frame, kind, column_list=["x", "y"]) == [True, True, False, False, False]
    assert _broken(frame, kind, column_list=["x", "y"], ignore_row_if="never") == [
        True,
        True,
        False,
        True,
        True,
    ]


IDS = pl.DataFrame(
    {
        "personal_id": ["001090123456", "00109012345", "079195000001", "999090123456", None],
        "date_of_birth": [
            dt.date(1990, 5, 1),
            dt.date(1990, 5, 1),
            dt.date(1995, 1, 1),
            dt.date(1990, 1, 1),
            None,
        ],
        "sex": ["male", "male", "male", "male", None],
    }
)


def test_valid_personal_id_breaks_wrong_length_and_ignores_null():
    assert _broken(IDS, "expect_column_values_to_be_valid_personal_id", column="personal_id") == [
        False,
        True,
        False,
        False,
        False,
    ]


def test_personal_id_province_known():
    assert _broken(IDS, "expect_personal_id_province_to_be_known", column="personal_id") == [
        False,
        False,
        False,
        True,
        False,
    ]


def test_personal_id_matches_birth_year_and_sex():
    # 079 1 95 …: G = 1 is a woman born 1995, recorded as a man.
    kwargs = {"column_list": ["personal_id", "date_of_birth", "sex"]}
    assert _broken(IDS, "expect_personal_id_to_match_birth", **kwargs) == [False, False, True, False, False]


def test_enterprise_social_insurance_and_cmnd_codes():
    codes = pl.DataFrame({"c": ["0100109106", "0100109107", "0100109106-001", "12345", None]})
    assert _broken(codes, "expect_column_values_to_be_valid_enterprise_code", column="c") == [
        False,
        True,
        False,
        True,
        False,
    ]
    insurance = pl.DataFrame({"c": ["0123456789", "012345678", None]})
    assert _broken(insurance, "expect_column_values_to_be_valid_social_insurance_code", column="c") == [
        False,
        True,
        False,
    ]
    cmnd = pl.DataFrame({"c": ["123456789", "1234567890", None]})
    assert _broken(cmnd, "expect_column_values_to_be_valid_cmnd", column="c") == [False, True, False]


def test_known_admin_code_depends_on_level_and_code_list():
    kind = "expect_column_values_to_be_known_admin_code"
    provinces = pl.DataFrame({"p": ["01", "02", "99", None]})  # 02 Hà Giang exists only in the legacy list
    assert _broken(provinces, kind, column="p", level="province", code_list="legacy") == [
        False,
        False,
        True,
        False,
    ]
    assert _broken(provinces, kind, column="p", level="province", code_list="2025") == [
        False,
        True,
        True,
        False,
    ]
    wards = pl.DataFrame({"w": ["00001", "99999", None]})
    assert _broken(wards, kind, column="w", level="ward", code_list="legacy") == [False, True, False]


def test_not_in_the_future_uses_the_compile_date():
    assert _broken(D, "expect_column_values_to_not_be_in_the_future", column="d") == [
        False,
        False,
        False,
        True,
        False,
    ]


def test_dataset_level_expectations_are_left_to_ge():
    suite = _suite(
        ("expect_table_row_count_to_be_between", {"min_value": 1}, {"rule_id": "rows"}),
        ("expect_column_values_to_not_be_null", {"column": "s"}, {"rule_id": "s.required"}),
    )
    compiled = compile_suite(suite, today=TODAY)
    assert compiled.not_compiled == ("expect_table_row_count_to_be_between",)
    assert [rule.rule_id for rule in compiled.rules] == ["s.required"]


def test_unsupported_expectation_type_names_suite_and_type():
    suite = _suite(
        ("expect_column_values_to_match_json_schema", {"column": "s", "json_schema": {}}, {"rule_id": "j"})
    )
    with pytest.raises(SuiteCompileError, match=r"suite 'unit'.*expect_column_values_to_match_json_schema"):
        compile_suite(suite, today=TODAY)


@pytest.mark.parametrize(
    ("metas", "message"),
    [
        ([{}], "meta.rule_id is required"),
        ([{"rule_id": "x"}, {"rule_id": "x"}], "used twice"),
        ([{"rule_id": "x", "severity": "critical"}], "must be 'error' or 'warning'"),
        ([{"rule_id": "a|b"}], "may hold only"),
    ],
)
def test_rule_meta_is_checked(metas, message):
    suite = _suite(
        *[("expect_column_values_to_not_be_null", {"column": f"c{i}"}, m) for i, m in enumerate(metas)]
    )
    with pytest.raises(SuiteCompileError, match=message):
        compile_suite(suite, today=TODAY)


def _two_rule_suite() -> gx.ExpectationSuite:
    return _suite(
        ("expect_column_values_to_not_be_null", {"column": "s"}, {"rule_id": "s.required"}),
        (
            "expect_column_value_lengths_to_be_between",
            {"column": "s", "max_value": 3},
            {"rule_id": "s.short", "severity": "warning"},
        ),
        (
            "expect_column_values_to_match_regex",
            {"column": "s", "regex": "^[a-z]", "mostly": 0.7},
            {"rule_id": "s.lower"},
        ),
    )


def test_flag_rows_lists_broken_rule_ids_by_severity():
    compiled = compile_suite(_two_rule_suite(), today=TODAY)
    assert [rule.severity for rule in compiled.rules] == ["error", "warning", "error"]
    flagged = flag_rows(S, compiled)
    assert flagged.columns == [*S.columns, ERRORS_COLUMN, WARNINGS_COLUMN]
    assert flagged[ERRORS_COLUMN].to_list() == [[], [], ["s.lower"], ["s.required"], ["s.lower"]]
    assert flagged[WARNINGS_COLUMN].to_list() == [[], [], [], [], ["s.short"]]
    assert flagged.schema[ERRORS_COLUMN] == pl.List(pl.String)
    assert isinstance(flag_rows(S.lazy(), compiled), pl.LazyFrame)


def test_rule_counts_include_rules_never_broken():
    compiled = compile_suite(_two_rule_suite(), today=TODAY)
    assert rule_counts(flag_rows(S.head(1), compiled), compiled) == {
        "s.required": 0,
        "s.short": 0,
        "s.lower": 0,
    }
    assert rule_counts(flag_rows(S, compiled), compiled) == {"s.required": 1, "s.short": 1, "s.lower": 2}


def test_validation_result_is_a_ge_result_with_mostly_applied():
    from great_expectations.core import ExpectationSuiteValidationResult

    suite = _two_rule_suite()
    compiled = compile_suite(suite, today=TODAY)
    counts = rule_counts(flag_rows(S, compiled), compiled)
    result = validation_result(compiled, suite, counts, S.height, "run-7")
    assert isinstance(result, ExpectationSuiteValidationResult)
    by_rule = {r.expectation_config.meta["rule_id"]: r for r in result.results}
    assert by_rule["s.required"].result["unexpected_count"] == 1
    assert by_rule["s.required"].success is False
    assert by_rule["s.lower"].result["unexpected_percent"] == pytest.approx(40.0)
    assert by_rule["s.lower"].success is False  # 60 % as expected < mostly 0.7
    assert by_rule["s.short"].success is False
    assert result.statistics["evaluated_expectations"] == 3
    assert result.success is False
    assert result.meta["run_id"].run_name == "run-7"
    clean = validation_result(compiled, suite, dict.fromkeys(counts, 0), S.height, "run-8")
    assert clean.success is True


RAW_DATES = pl.DataFrame({"raw": ["15/03/1990", "31/02/1990", "1/2/1990", "không rõ", None]})


def test_strftime_format_is_pythons_strptime_and_ignores_nulls():
    broken = _broken(
        RAW_DATES, "expect_column_values_to_match_strftime_format", column="raw", strftime_format="%d/%m/%Y"
    )
    assert broken == [False, True, False, True, False]


def test_strftime_format_must_be_a_pattern():
    with pytest.raises(SuiteCompileError, match="strftime_format must be a strftime pattern"):
        _broken(
            RAW_DATES, "expect_column_values_to_match_strftime_format", column="raw", strftime_format="dd/mm"
        )


def test_dateutil_parseable_refuses_impossible_dates_and_text():
    assert _broken(RAW_DATES, "expect_column_values_to_be_dateutil_parseable", column="raw") == [
        False,
        True,
        False,
        True,
        False,
    ]


def test_regex_lists_match_any_or_all_and_not_match_any():
    assert _broken(S, "expect_column_values_to_match_regex_list", column="s", regex_list=["^a", "D$"]) == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert _broken(
        S, "expect_column_values_to_match_regex_list", column="s", regex_list=["^a", "c$"], match_on="all"
    ) == [False, True, True, False, True]
    assert _broken(S, "expect_column_values_to_not_match_regex_list", column="s", regex_list=["1", "^A"]) == [
        False,
        True,
        False,
        False,
        True,
    ]


def test_pair_in_set_multicolumn_sum_and_unique_within_record():
    frame = pl.DataFrame({"a": ["x", "y", None, "x"], "b": ["x", "z", None, None], "n": [1, 2, None, 3]})
    pairs = [["x", "x"], ["y", "y"]]
    assert _broken(
        frame, "expect_column_pair_values_to_be_in_set", column_A="a", column_B="b", value_pairs_set=pairs
    ) == [
        False,
        True,
        False,
        True,
    ]
    assert _broken(
        frame.select(pl.col("n"), m=pl.lit(1)),
        "expect_multicolumn_sum_to_equal",
        column_list=["n", "m"],
        sum_total=3,
    ) == [True, False, True, True]
    assert _broken(
        frame, "expect_select_column_values_to_be_unique_within_record", column_list=["a", "b"]
    ) == [
        True,
        False,
        False,
        False,
    ]


def test_a_row_condition_limits_the_rows_judged():
    frame = pl.DataFrame(
        {"raw": ["15/03/1990", "31/02/1990", None], "parsed": [dt.date(1990, 3, 15), None, None]}
    )
    condition = {"type": "nullity", "column": {"name": "raw"}, "is_null": False}
    assert _broken(
        frame, "expect_column_values_to_not_be_null", column="parsed", row_condition=condition
    ) == [
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        (
            "expect_column_values_to_not_be_null",
            {"column": "s", "row_condition": "s.notnull()", "condition_parser": "pandas"},
            "write it as a Condition object",
        ),
        (
            "expect_column_values_to_be_unique",
            {"column": "s", "row_condition": {"type": "nullity", "column": {"name": "s"}, "is_null": False}},
            "uniqueness expectation",
        ),
    ],
)
def test_row_conditions_the_compiler_cannot_honour_are_refused(kind, kwargs, message):
    with pytest.raises(SuiteCompileError, match=message):
        compile_suite(_suite((kind, kwargs, {"rule_id": "r"})), today=TODAY)


def test_an_order_dependent_expectation_is_refused_with_the_reason_and_the_unsupported_list():
    suite = _suite(("expect_column_values_to_be_increasing", {"column": "s"}, {"rule_id": "s.up"}))
    with pytest.raises(SuiteCompileError) as raised:
        compile_suite(suite, today=TODAY)
    message = str(raised.value)
    assert "rule 's.up'" in message and "row order" in message
    assert "expect_column_values_to_be_json_parseable" in message and "\n" not in message
