"""Compile a Great Expectations suite to Polars expressions: one boolean "broken" expression per rule.

GE's pandas engine is accurate but slow on millions of rows, and a chunked GE run cannot check
uniqueness. So row-level expectations become Polars expressions evaluated in one pass (uniqueness
as a window over the whole frame), with GE's semantics: most column map expectations ignore nulls;
`mostly` is a dataset-level threshold (rows are still flagged; it only changes `success`).
Dataset-level expectations (table row counts, column means, ...) are left to GE (`not_compiled`).

This module does not import Great Expectations (seconds to import): suites are read duck-typed.
The validation result of compiled counts (for Data Docs) is quality/validation.py's.

Over 300 lines because it holds one small compiler per expectation type GE's suites use (a
table of them): the registry and the rule specs are in quality/rules.py.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from quality.predicates import admin_code_known, rules
from quality.rules import SEVERITIES as SEVERITIES
from quality.rules import Severity as Severity
from quality.rules import SuiteCompileError as SuiteCompileError
from quality.rules import rule_specs

if TYPE_CHECKING:
    import great_expectations as gx

ERRORS_COLUMN = "_errors"
WARNINGS_COLUMN = "_warnings"
TODAY_PARAMETER = "today"
RULE_ID_SEPARATOR = "|"

# Expectations about the whole table or a column's aggregate: nothing to say about one row.
DATASET_LEVEL = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_row_count_to_equal_other_table",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_column_to_exist",
        "expect_column_values_to_be_of_type",
        "expect_column_type_to_be",
        "expect_column_values_to_be_in_type_list",
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_distinct_values_to_equal_set",
        "expect_column_max_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_stdev_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_quantile_values_to_be_between",
        "expect_column_most_common_value_to_be_in_set",
        "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_kl_divergence_to_be_less_than",
    }
)


# Core row-level expectations the compiler does not take, and why: a suite using one is refused
# (`ndc check` lists them). Order-dependent and whole-column statistics have no meaning for one
# row of a chunked load; the rest have no Polars counterpart that would agree with GE row for row.
NOT_SUPPORTED: dict[str, str] = {
    "expect_column_values_to_be_increasing": "depends on row order, which a load does not keep",
    "expect_column_values_to_be_decreasing": "depends on row order, which a load does not keep",
    "expect_column_value_z_scores_to_be_less_than": "a statistic of the whole column, not of one row",
    "expect_column_values_to_not_be_outliers": "a statistic of the whole column, not of one row",
    "expect_column_values_to_be_json_parseable": "no Polars parser agrees with Python's json row for row",
    "expect_column_values_to_match_json_schema": "no JSON Schema validator in Polars",
    "expect_column_values_to_match_like_pattern": "SQL LIKE: GE runs it only on SQL engines",
    "expect_column_values_to_match_like_pattern_list": "SQL LIKE: GE runs it only on SQL engines",
    "expect_column_values_to_not_match_like_pattern": "SQL LIKE: GE runs it only on SQL engines",
    "expect_column_values_to_not_match_like_pattern_list": "SQL LIKE: GE runs it only on SQL engines",
    "expect_column_pair_cramers_phi_value_to_be_less_than": "a statistic of two whole columns",
    "expect_multicolumn_values_to_be_unique": "deprecated by GE: use expect_select_column_values_to_be_unique_within_record",
    "expect_query_results_to_match_comparison": "runs SQL against the source",
    "unexpected_rows_expectation": "runs SQL against the source",
}


@dataclass(frozen=True)
class Rule:
    rule_id: str
    severity: Severity
    expectation_type: str
    columns: tuple[str, ...]
    broken: pl.Expr  # True where the row breaks the rule; never null
    mostly: float = 1.0


@dataclass(frozen=True)
class CompiledSuite:
    name: str
    rules: tuple[Rule, ...]
    not_compiled: tuple[str, ...]  # expectation types left to GE itself (dataset-level ones)

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.rule_id == rule_id)


@dataclass(frozen=True)
class _Spec:
    """What a compiler function sees of one expectation."""

    type: str
    kwargs: Mapping[str, Any]
    today: datetime.date

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.kwargs.get(name, default)
        return default if value is None else value


def _present(expr: pl.Expr) -> pl.Expr:
    return expr.is_not_null()


def _fails(ok: pl.Expr) -> pl.Expr:
    """Broken where a predicate (True = OK) is False; a null verdict counts as OK."""
    return ~ok.fill_null(True)


def _column(spec: _Spec) -> pl.Expr:
    return pl.col(spec.kwargs["column"])


def _literal(value: Any) -> Any:
    """Bounds as written in JSON: ISO dates and datetimes become Polars date/datetime literals."""
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return pl.lit(datetime.date.fromisoformat(value))
            return pl.lit(datetime.datetime.fromisoformat(value))
        except ValueError:
            return pl.lit(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return pl.lit(value)
    return value


def _between(value: pl.Expr, spec: _Spec) -> pl.Expr:
    """True where `value` is within [min, max] (strict_min / strict_max make that end open)."""
    low, high = spec.kwargs.get("min_value"), spec.kwargs.get("max_value")
    if low is None and high is None:
        raise ValueError("min_value and max_value cannot both be None")
    inside = pl.lit(True)
    if low is not None:
        low_lit = _literal(low)
        inside = inside & (value > low_lit if spec.arg("strict_min", False) else value >= low_lit)
    if high is not None:
        high_lit = _literal(high)
        inside = inside & (value < high_lit if spec.arg("strict_max", False) else value <= high_lit)
    return inside


def _not_null(spec: _Spec) -> pl.Expr:
    return _column(spec).is_null()


def _null(spec: _Spec) -> pl.Expr:
    return _column(spec).is_not_null()


def _regex(spec: _Spec) -> pl.Expr:
    # GE uses re.search (unanchored); Polars `contains` is the same search.
    column = _column(spec)
    return _present(column) & ~column.cast(pl.String).str.contains(spec.kwargs["regex"]).fill_null(True)


def _not_regex(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & column.cast(pl.String).str.contains(spec.kwargs["regex"]).fill_null(False)


def _in_set(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & ~column.is_in(list(spec.kwargs["value_set"])).fill_null(True)


def _not_in_set(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & column.is_in(list(spec.kwargs["value_set"])).fill_null(False)


def _values_between(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & _fails(_between(column, spec))


def _lengths_between(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & _fails(_between(column.cast(pl.String).str.len_chars(), spec))


def _lengths_equal(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & (column.cast(pl.String).str.len_chars() != spec.kwargs["value"])


def _unique(spec: _Spec) -> pl.Expr:
    # Every occurrence of a repeated value is unexpected, as in GE; a window over the whole frame.
    column = _column(spec)
    return _present(column) & column.is_duplicated()


def _pair_ignored(a: pl.Expr, b: pl.Expr, spec: _Spec) -> pl.Expr:
    ignore = spec.arg("ignore_row_if", "both_values_are_missing")
    if ignore == "both_values_are_missing":
        return a.is_null() & b.is_null()
    if ignore == "either_value_is_missing":
        return a.is_null() | b.is_null()
    if ignore == "neither":
        return pl.lit(False)
    raise ValueError(f"unknown ignore_row_if {ignore!r}")


def _pair(compare: Callable[[pl.Expr, pl.Expr, _Spec], pl.Expr]) -> Callable[[_Spec], pl.Expr]:
    """A column pair rule: rows not ignored break it where the comparison is not True (null included)."""

    def compiled(spec: _Spec) -> pl.Expr:
        a, b = pl.col(spec.kwargs["column_A"]), pl.col(spec.kwargs["column_B"])
        return ~_pair_ignored(a, b, spec) & ~compare(a, b, spec).fill_null(False)

    return compiled


def _a_greater_than_b(a: pl.Expr, b: pl.Expr, spec: _Spec) -> pl.Expr:
    return a >= b if spec.arg("or_equal", False) else a > b


def _multicolumn_ignored(columns: list[pl.Expr], spec: _Spec) -> pl.Expr:
    ignore = spec.arg("ignore_row_if", "all_values_are_missing")
    if ignore == "all_values_are_missing":
        return pl.all_horizontal([c.is_null() for c in columns])
    if ignore == "any_value_is_missing":
        return pl.any_horizontal([c.is_null() for c in columns])
    if ignore == "never":
        return pl.lit(False)
    raise ValueError(f"unknown ignore_row_if {ignore!r}")


def _regex_list(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    text = column.cast(pl.String)
    matches = [text.str.contains(regex) for regex in spec.kwargs["regex_list"]]
    match_on = spec.arg("match_on", "any")
    if match_on not in ("any", "all"):
        raise ValueError("match_on must be 'any' or 'all'")
    matched = pl.any_horizontal(matches) if match_on == "any" else pl.all_horizontal(matches)
    return _present(column) & _fails(matched)


def _not_regex_list(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    text = column.cast(pl.String)
    return _present(column) & pl.any_horizontal([text.str.contains(r) for r in spec.kwargs["regex_list"]])


def _python_check(column: pl.Expr, parses: Callable[[str], bool]) -> pl.Expr:
    """True where `parses(value)` is False, for the present values of a text column.

    GE's meaning of these expectations is a Python parser (datetime.strptime, dateutil), which no
    Polars parser matches value for value (chrono pads, widths and years differ). So the parser is
    asked once per DISTINCT value (dates repeat: a date-of-birth column has a few tens of
    thousands of them) and the verdicts are joined back by value, never once per row.
    """

    def verdicts(values: pl.Series) -> pl.Series:
        distinct = values.drop_nulls().unique()
        ok = pl.Series([parses(v) for v in distinct.to_list()], dtype=pl.Boolean)
        lookup = pl.DataFrame({"v": distinct, "ok": ok})
        return values.to_frame("v").join(lookup, on="v", how="left", maintain_order="left")["ok"]

    text = column.cast(pl.String)
    return _present(column) & _fails(text.map_batches(verdicts, return_dtype=pl.Boolean))


def _strftime(spec: _Spec) -> pl.Expr:
    pattern = spec.kwargs["strftime_format"]
    if not isinstance(pattern, str) or "%" not in pattern:
        raise ValueError(f"strftime_format must be a strftime pattern such as '%d/%m/%Y', not {pattern!r}")

    def parses(value: str) -> bool:
        try:
            datetime.datetime.strptime(value, pattern)  # naive, as GE checks it
        except ValueError:
            return False
        return True

    return _python_check(_column(spec), parses)


def _dateutil(spec: _Spec) -> pl.Expr:
    from dateutil.parser import parse

    def parses(value: str) -> bool:
        try:
            parse(value)
        except (ValueError, OverflowError):
            return False
        return True

    return _python_check(_column(spec), parses)


def _pair_in_set(spec: _Spec) -> pl.Expr:
    """GE compares (A, B) with the listed pairs, a missing value as None; no pairs: vacuously true."""
    a, b = pl.col(spec.kwargs["column_A"]), pl.col(spec.kwargs["column_B"])
    pairs = spec.kwargs.get("value_pairs_set")
    if pairs is None:
        return pl.lit(False)
    allowed = pl.lit(False)
    for left, right in pairs:
        allowed = allowed | (a.eq_missing(pl.lit(left)) & b.eq_missing(pl.lit(right)))
    return ~_pair_ignored(a, b, spec) & ~allowed


def _multicolumn_sum(spec: _Spec) -> pl.Expr:
    """The row's sum (null when any value is missing, as pandas' skipna=False) must equal sum_total."""
    columns = [pl.col(name) for name in spec.kwargs["column_list"]]
    total = pl.sum_horizontal(columns)
    any_missing = pl.any_horizontal([c.is_null() for c in columns])
    equal = pl.when(any_missing).then(pl.lit(False)).otherwise(total == spec.kwargs["sum_total"])
    return ~_multicolumn_ignored(columns, spec) & _fails(equal)


def _multicolumn_equal(spec: _Spec) -> pl.Expr:
    """Every listed column equals the first one in the row (two missing values are equal)."""
    names = list(spec.kwargs["column_list"])
    columns = [pl.col(name) for name in names]
    equal = pl.all_horizontal([pl.col(name).eq_missing(pl.col(names[0])) for name in names])
    return ~_multicolumn_ignored(columns, spec) & ~equal


def _unique_within_record(spec: _Spec) -> pl.Expr:
    """No two of the listed columns hold the same value in a row (two missing values are the same)."""
    names = list(spec.kwargs["column_list"])
    columns = [pl.col(name) for name in names]
    repeats = [
        pl.col(names[i]).eq_missing(pl.col(names[j]))
        for i in range(len(names))
        for j in range(i + 1, len(names))
    ]
    return ~_multicolumn_ignored(columns, spec) & pl.any_horizontal(repeats or [pl.lit(False)])


def _compound_unique(spec: _Spec) -> pl.Expr:
    columns = [pl.col(name) for name in spec.kwargs["column_list"]]
    return ~_multicolumn_ignored(columns, spec) & pl.struct(columns).is_duplicated()


def _column_predicate(name: str) -> Callable[[_Spec], pl.Expr]:
    """A custom single-column expectation backed by the normalise.rules predicate `name`."""

    def compiled(spec: _Spec) -> pl.Expr:
        column = _column(spec)
        return _present(column) & _fails(getattr(rules(), name)(column))

    return compiled


def _admin_code(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    return _present(column) & _fails(admin_code_known(column, spec.kwargs["level"], spec.kwargs["code_list"]))


def _not_in_future(spec: _Spec) -> pl.Expr:
    column = _column(spec)
    today = spec.kwargs.get("today") or spec.today
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    return _present(column) & _fails(rules().date_not_in_future(column, today))


def _matches_birth(spec: _Spec) -> pl.Expr:
    columns = [pl.col(name) for name in spec.kwargs["column_list"]]
    return ~_multicolumn_ignored(columns, spec) & _fails(rules().personal_id_matches_birth(*columns))


COMPILERS: dict[str, Callable[[_Spec], pl.Expr]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_null": _null,
    "expect_column_values_to_match_regex": _regex,
    "expect_column_values_to_not_match_regex": _not_regex,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": _not_in_set,
    "expect_column_values_to_be_between": _values_between,
    "expect_column_value_lengths_to_be_between": _lengths_between,
    "expect_column_value_lengths_to_equal": _lengths_equal,
    "expect_column_values_to_be_unique": _unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair(_a_greater_than_b),
    "expect_column_pair_values_to_be_equal": _pair(lambda a, b, _: a == b),
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_values_to_match_regex_list": _regex_list,
    "expect_column_values_to_not_match_regex_list": _not_regex_list,
    "expect_column_values_to_match_strftime_format": _strftime,
    "expect_column_values_to_be_dateutil_parseable": _dateutil,
    "expect_column_pair_values_to_be_in_set": _pair_in_set,
    "expect_multicolumn_sum_to_equal": _multicolumn_sum,
    "expect_multicolumn_values_to_be_equal": _multicolumn_equal,
    "expect_select_column_values_to_be_unique_within_record": _unique_within_record,
    # custom expectations (quality.expectations)
    "expect_column_values_to_be_valid_personal_id": _column_predicate("personal_id_well_formed"),
    "expect_personal_id_province_to_be_known": _column_predicate("personal_id_province_known"),
    "expect_column_values_to_be_valid_cmnd": _column_predicate("cmnd_well_formed"),
    "expect_column_values_to_be_valid_enterprise_code": _column_predicate("enterprise_code_valid"),
    "expect_column_values_to_be_valid_social_insurance_code": _column_predicate(
        "social_insurance_code_valid"
    ),
    "expect_column_values_to_be_valid_health_insurance_card": _column_predicate(
        "health_insurance_card_valid"
    ),
    "expect_column_values_to_be_valid_vn_phone": _column_predicate("phone_valid_vn"),
    "expect_column_values_to_be_known_admin_code": _admin_code,
    "expect_column_values_to_not_be_in_the_future": _not_in_future,
    "expect_personal_id_to_match_birth": _matches_birth,
}


_COMPARISONS: dict[str, Callable[[pl.Expr, Any], pl.Expr]] = {
    "==": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "IN": lambda c, v: c.is_in(list(v)),
    "NOT IN": lambda c, v: ~c.is_in(list(v)),
}
# Uniqueness looks at the other rows: under a condition GE compares only the rows it keeps.
_WHOLE_FRAME = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})


def _condition(condition: Any) -> pl.Expr:
    """A GE row condition (its Condition object as JSON) as a Polars predicate; True = the row is judged.

    GE drops the rows the condition excludes before it judges, so they never break the rule.
    """
    if hasattr(condition, "dict") and not isinstance(condition, Mapping):  # a GE Condition object
        condition = json.loads(condition.json())
    if not isinstance(condition, Mapping) or condition.get("type") == "pass_through":
        raise ValueError(
            f"row_condition {condition!r} is a string (GE's deprecated condition_parser syntax); write it "
            'as a Condition object, e.g. {"type": "nullity", "column": {"name": "x"}, "is_null": false}'
        )
    kind = condition.get("type")
    if kind in ("and", "or"):
        parts = [_condition(part) for part in condition["conditions"]]
        return pl.all_horizontal(parts) if kind == "and" else pl.any_horizontal(parts)
    if kind == "nullity":
        column = pl.col(condition["column"]["name"])
        return column.is_null() if condition["is_null"] else column.is_not_null()
    if kind == "comparison":
        operator = condition["operator"]
        if operator not in _COMPARISONS:
            raise ValueError(f"row_condition operator {operator!r} is not one of {', '.join(_COMPARISONS)}")
        compare = _COMPARISONS[operator](
            pl.col(condition["column"]["name"]), _literal(condition["parameter"])
        )
        return compare.fill_null(False)
    raise ValueError(f"row_condition type {kind!r} is not one of and, or, nullity, comparison")


def unsupported_reason(kind: str) -> str:
    """Why an expectation type cannot be compiled, and where the supported ones are listed (one line)."""
    import difflib

    if kind in NOT_SUPPORTED:
        return (
            f"expectation type '{kind}' cannot be compiled: {NOT_SUPPORTED[kind]}; types the compiler "
            f"does not take: {', '.join(sorted(NOT_SUPPORTED))} (the ones it takes: docs/adding-a-source.md)"
        )
    close = difflib.get_close_matches(kind, [*COMPILERS, *DATASET_LEVEL], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"expectation type '{kind}' is not one the compiler knows{hint}; the types it takes and the "
        "ones it does not are listed in docs/adding-a-source.md"
    )


def _resolve_parameters(kwargs: Mapping[str, Any], today: datetime.date, where: str) -> dict[str, Any]:
    """Substitute suite parameters: only {"$PARAMETER": "today"} (the run date) is known here."""
    resolved = {}
    for key, value in kwargs.items():
        if isinstance(value, Mapping) and "$PARAMETER" in value:
            if value["$PARAMETER"] != TODAY_PARAMETER:
                raise SuiteCompileError(
                    f"{where}: unknown suite parameter {value['$PARAMETER']!r} in '{key}'"
                )
            value = today.isoformat()
        resolved[key] = value
    return resolved


def compile_suite(suite: gx.ExpectationSuite, *, today: datetime.date) -> CompiledSuite:
    """Compile every row-level expectation of `suite`; dataset-level ones are listed in `not_compiled`."""
    rules: list[Rule] = []
    not_compiled: list[str] = []
    for spec in rule_specs(suite):  # the one registry: ids, severities, columns checked there
        kind, rule_id = spec.kind, spec.rule_id
        where = f"suite '{suite.name}', {kind}"
        if kind in DATASET_LEVEL:
            not_compiled.append(kind)
            continue
        compiler = COMPILERS.get(kind)
        if compiler is None:
            raise SuiteCompileError(f"suite '{suite.name}': rule '{rule_id}': {unsupported_reason(kind)}")
        kwargs = _resolve_parameters(spec.kwargs, today, where)
        try:
            broken = compiler(_Spec(kind, kwargs, today))
            if kwargs.get("row_condition") is not None:
                if kind in _WHOLE_FRAME:
                    raise ValueError("a row_condition on a uniqueness expectation is not compiled")
                broken = _condition(kwargs["row_condition"]) & broken
        except (KeyError, ValueError, TypeError) as error:
            raise SuiteCompileError(f"{where} (rule '{rule_id}'): invalid arguments: {error}") from error
        rules.append(
            Rule(
                rule_id=rule_id,
                severity=spec.severity,
                expectation_type=kind,
                columns=spec.columns,
                broken=broken.fill_null(False).alias(rule_id),
                mostly=spec.mostly,
            )
        )
    return CompiledSuite(name=suite.name, rules=tuple(rules), not_compiled=tuple(not_compiled))


def _broken_ids(rules: list[Rule]) -> pl.Expr:
    """The ids of the rules a row breaks, as list[str] (empty when none).

    Joined as text and split again: `concat_list` of per-rule `when/then` runs about 8x slower on
    millions of rows (measured with bench/bench_quality.py). Rule ids never contain the separator.
    """
    if not rules:
        return pl.lit([], dtype=pl.List(pl.String))
    ids = [pl.when(rule.broken).then(pl.lit(rule.rule_id)) for rule in rules]
    joined = pl.concat_str(ids, separator=RULE_ID_SEPARATOR, ignore_nulls=True)
    return joined.str.split(RULE_ID_SEPARATOR).list.filter(pl.element() != "")


def flag_rows[Frame: (pl.LazyFrame, pl.DataFrame)](frame: Frame, compiled: CompiledSuite) -> Frame:
    """Add `_errors` and `_warnings`: the ids of the error / warning rules each row breaks.

    Uniqueness rules look at the whole frame given, so pass the whole batch (or a LazyFrame of it).
    """
    errors = [rule for rule in compiled.rules if rule.severity == "error"]
    warnings = [rule for rule in compiled.rules if rule.severity == "warning"]
    return frame.with_columns(
        _broken_ids(errors).alias(ERRORS_COLUMN), _broken_ids(warnings).alias(WARNINGS_COLUMN)
    )


def rule_counts(flagged: pl.DataFrame | pl.LazyFrame, compiled: CompiledSuite) -> dict[str, int]:
    """Unexpected (broken) row count per rule id, from a frame `flag_rows` returned."""
    counts = {rule.rule_id: 0 for rule in compiled.rules}
    lazy = flagged.lazy() if isinstance(flagged, pl.DataFrame) else flagged
    exploded = (
        lazy.select(pl.concat_list(ERRORS_COLUMN, WARNINGS_COLUMN).alias("rule_id"))
        .explode("rule_id")
        .drop_nulls()
        .group_by("rule_id")
        .len()
        .collect()
    )
    counts.update(dict(zip(exploded["rule_id"].to_list(), exploded["len"].to_list(), strict=True)))
    return counts
