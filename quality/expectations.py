"""Custom Great Expectations 1.x expectations for Vietnamese identifiers, codes and dates.

Each expectation is registered with GE (class definition registers it), so GE's own pandas engine
can run suites that use them. Their pandas metrics call the very `normalise.rules` predicates the
compiler uses (through Polars), so both engines share one definition of "valid".

Importing this module imports Great Expectations (seconds): only `quality.suites` and
`quality.ge_engine` do, never the compiled hot path.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import pandas as pd
import polars as pl
from great_expectations.compatibility import pydantic
from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)

from quality.predicates import admin_code_known, rules

AdminLevel = Literal["province", "ward"]
CodeList = Literal["legacy", "2025"]


def _as_polars(series: pd.Series) -> pl.Series:
    """A pandas column as Polars; datetime64 columns become dates, which the predicates expect."""
    converted = pl.from_pandas(series.reset_index(drop=True))
    if converted.dtype == pl.Datetime or isinstance(converted.dtype, pl.Datetime):
        converted = converted.cast(pl.Date)
    if converted.dtype == pl.Object:
        converted = pl.Series(converted.name, series.astype("string").tolist(), dtype=pl.String)
    return converted


def _evaluate(columns: dict[str, pd.Series], predicate: pl.Expr, index: pd.Index) -> pd.Series:
    """Evaluate a boolean Polars predicate over pandas columns; True = OK, null counts as OK."""
    frame = pl.DataFrame({name: _as_polars(series) for name, series in columns.items()})
    ok = frame.select(predicate.fill_null(True).alias("ok")).to_series()
    return pd.Series(ok.to_numpy(), index=index, dtype=bool)


def _today(value: Any) -> datetime.date:
    if value is None:
        return datetime.date.today()
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def _column_metric(
    metric_name: str, build: Callable[[pl.Expr, dict[str, Any]], pl.Expr], value_keys: tuple[str, ...] = ()
) -> type[ColumnMapMetricProvider]:
    """A pandas column map metric whose condition is `build(pl.col("v"), kwargs)` in Polars."""

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls: Any, column: pd.Series, **kwargs: Any) -> pd.Series:
        return _evaluate({"v": column}, build(pl.col("v"), kwargs), column.index)

    class_name = "".join(part.title() for part in metric_name.replace(".", "_").split("_")) + "Metric"
    return type(
        class_name,
        (ColumnMapMetricProvider,),
        {"condition_metric_name": metric_name, "condition_value_keys": value_keys, "_pandas": _pandas},
    )


PersonalIdWellFormed = _column_metric(
    "column_values.ndc_valid_personal_id", lambda v, _: rules().personal_id_well_formed(v)
)
PersonalIdProvinceKnown = _column_metric(
    "column_values.ndc_personal_id_province_known", lambda v, _: rules().personal_id_province_known(v)
)
CmndWellFormed = _column_metric("column_values.ndc_valid_cmnd", lambda v, _: rules().cmnd_well_formed(v))
EnterpriseCodeValid = _column_metric(
    "column_values.ndc_valid_enterprise_code", lambda v, _: rules().enterprise_code_valid(v)
)
SocialInsuranceCodeValid = _column_metric(
    "column_values.ndc_valid_social_insurance_code", lambda v, _: rules().social_insurance_code_valid(v)
)
HealthInsuranceCardValid = _column_metric(
    "column_values.ndc_valid_health_insurance_card", lambda v, _: rules().health_insurance_card_valid(v)
)
PhoneValidVn = _column_metric("column_values.ndc_valid_vn_phone", lambda v, _: rules().phone_valid_vn(v))


AdminCodeKnown = _column_metric(
    "column_values.ndc_known_admin_code",
    lambda v, kw: admin_code_known(v, kw["level"], kw["code_list"]),
    ("level", "code_list"),
)
NotInTheFuture = _column_metric(
    "column_values.ndc_not_in_the_future",
    lambda v, kw: rules().date_not_in_future(v, _today(kw.get("today"))),
    ("today",),
)


class PersonalIdMatchesBirth(MulticolumnMapMetricProvider):
    """Century/sex digit and birth year of the ID agree with date of birth and sex."""

    condition_metric_name = "multicolumn_values.ndc_personal_id_matches_birth"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        personal_id, date_of_birth, sex = column_list.columns
        columns = {"id": column_list[personal_id], "dob": column_list[date_of_birth], "sex": column_list[sex]}
        predicate = rules().personal_id_matches_birth(pl.col("id"), pl.col("dob"), pl.col("sex"))
        return _evaluate(columns, predicate, column_list.index)


class ExpectColumnValuesToBeValidPersonalId(ColumnMapExpectation):
    """Expect a 12-digit personal identification number (PPP G YY RRRRRR); nulls are ignored."""

    map_metric = "column_values.ndc_valid_personal_id"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict[str, Any]] = {"tags": ["ndc", "vietnam"], "contributors": ["ndc"]}


class ExpectPersonalIdProvinceToBeKnown(ColumnMapExpectation):
    """Expect the ID's first three digits to be one of the 63 birth-registration province codes."""

    map_metric = "column_values.ndc_personal_id_province_known"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidCmnd(ColumnMapExpectation):
    """Expect a legacy identity card number (9 or 12 digits)."""

    map_metric = "column_values.ndc_valid_cmnd"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidEnterpriseCode(ColumnMapExpectation):
    """Expect a 10-digit enterprise (tax) code with a correct check digit, or a 13-digit branch code."""

    map_metric = "column_values.ndc_valid_enterprise_code"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidSocialInsuranceCode(ColumnMapExpectation):
    """Expect a 10-digit social insurance code."""

    map_metric = "column_values.ndc_valid_social_insurance_code"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidHealthInsuranceCard(ColumnMapExpectation):
    """Expect a health insurance card number (old 15-character form or the 10-digit code)."""

    map_metric = "column_values.ndc_valid_health_insurance_card"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidVnPhone(ColumnMapExpectation):
    """Expect an E.164 phone number valid in Vietnam."""

    map_metric = "column_values.ndc_valid_vn_phone"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeKnownAdminCode(ColumnMapExpectation):
    """Expect a province or ward code present in the named code list (legacy = 2025-01, 2025 = 2025-07)."""

    level: AdminLevel
    code_list: CodeList
    map_metric = "column_values.ndc_known_admin_code"
    success_keys = ("level", "code_list", "mostly")


class ExpectColumnValuesToNotBeInTheFuture(ColumnMapExpectation):
    """Expect dates on or before `today` (the run date; the day of validation when not given)."""

    # Suites write {"$PARAMETER": "today"}: GE fills it from the validation's expectation parameters,
    # the compiler from its `today` argument, so both engines judge against the same run date.
    today: str | SuiteParameterDict | None = pydantic.Field(
        default=None, description='ISO date or {"$PARAMETER": "today"}; the day of validation when absent'
    )
    map_metric = "column_values.ndc_not_in_the_future"
    success_keys = ("today", "mostly")


class ExpectPersonalIdToMatchBirth(MulticolumnMapExpectation):
    """Expect the personal ID's century/sex digit and year to agree with date of birth and sex.

    column_list is [personal_id, date_of_birth, sex], in that order.
    """

    map_metric = "multicolumn_values.ndc_personal_id_matches_birth"
    success_keys = ("mostly", "ignore_row_if")
