"""Dates: ministry dd/mm/yyyy, ISO, partial dates of birth, impossible dates, Excel serials."""

import datetime as dt

import polars as pl
import pytest

from normalise import normaliser


def run(name: str, raw: list, /, **options) -> list:
    frame = pl.DataFrame({"raw": pl.Series(raw, dtype=pl.String)})
    return frame.select(normaliser(name)(pl.col("raw"), **options)).to_series().to_list()


@pytest.mark.parametrize(
    ("raw", "expected", "precision"),
    [
        ("17/05/1990", dt.date(1990, 5, 17), "day"),
        (" 7/5/1990 ", dt.date(1990, 5, 7), "day"),
        ("1990-05-17", dt.date(1990, 5, 17), "day"),
        ("00/00/1950", dt.date(1950, 1, 1), "year"),
        ("00/07/1950", dt.date(1950, 7, 1), "month"),
        ("1950-00-00", dt.date(1950, 1, 1), "year"),
        ("1950-07-00", dt.date(1950, 7, 1), "month"),
        ("29/02/2000", dt.date(2000, 2, 29), "day"),
        ("31/02/1990", None, None),
        ("29/02/1900", None, None),
        ("00/13/1980", None, None),
        ("15/00/1950", None, None),
        ("32/01/1990", None, None),
        ("hôm qua", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_date_and_precision(raw, expected, precision):
    assert run("date", [raw]) == [expected]
    assert run("date_precision", [raw]) == [precision]


def test_date_formats_tried_in_order():
    raw = ["05/07/2020"]
    assert run("date", raw, format=["%m/%d/%Y", "%d/%m/%Y"]) == [dt.date(2020, 5, 7)]
    assert run("date", raw, format="%d/%m/%Y") == [dt.date(2020, 7, 5)]
    assert run("date", ["2020-07-05"], format="%d/%m/%Y") == [None]


def test_excel_serial_only_when_asked():
    # Excel: 1 = 1900-01-01 (with its fictitious 29/02/1900), so 61 = 1900-03-01.
    raw = ["33604", "61", "45000.75", "0", "17/05/1990"]
    expected_33604 = dt.date(1899, 12, 30) + dt.timedelta(days=33604)
    assert run("date", raw, excel_serial=True) == [
        expected_33604,
        dt.date(1900, 3, 1),
        dt.date(1899, 12, 30) + dt.timedelta(days=45000),
        None,
        dt.date(1990, 5, 17),
    ]
    assert expected_33604 == dt.date(1992, 1, 1)
    assert run("date", raw[:3]) == [None, None, None]
    assert run("date_precision", ["33604"], excel_serial=True) == ["day"]


def test_month():
    raw = ["07/2024", "7/2024", "13/2024", "00/2024", None]
    assert run("month", raw) == [dt.date(2024, 7, 1), dt.date(2024, 7, 1), None, None, None]
    assert run("month", ["2024-07"], format="%Y-%m") == [dt.date(2024, 7, 1)]
    assert run("month", ["15/07/2024"], format="%d/%m/%Y") == [dt.date(2024, 7, 1)]


def test_datetime():
    raw = ["2025-06-30 23:59:58", "2025-02-30 00:00:00", "30/06/2025", None]
    out = pl.DataFrame({"raw": raw}).select(normaliser("datetime")(pl.col("raw"))).to_series()
    assert out.dtype == pl.Datetime("us")
    assert out.to_list() == [dt.datetime(2025, 6, 30, 23, 59, 58), None, None, None]


def test_a_year_under_1000_is_not_a_date():
    """chrono reads "1/1/0" with %Y as year 0, which Python cannot hold: it must stay unparsed."""
    from normalise.dates import date, datetime, month

    frame = pl.DataFrame({"raw": ["1/1/0", "1/0", "01/01/0999 00:00:00", "01/01/1999"]})
    out = frame.select(
        date(pl.col("raw")).alias("date"),
        month(pl.col("raw")).alias("month"),
        datetime(pl.col("raw"), "%d/%m/%Y %H:%M:%S").alias("datetime"),
    )
    assert out["date"].to_list() == [None, None, None, dt.date(1999, 1, 1)]
    assert out["month"].to_list()[:2] == [None, None]
    assert out["datetime"].to_list() == [None, None, None, None]


def typed(name: str, values: pl.Series, /, **options) -> list:
    return values.to_frame("raw").select(normaliser(name)(pl.col("raw"), **options)).to_series().to_list()


def test_a_column_the_source_typed_is_taken_as_it_is_whatever_format_is_declared():
    """A SQL DATE or TIMESTAMP, a Parquet date: its text form ("2026-08-15", "… 10:00:00.123456")
    is not the ministry's declared text format, and was read as no date at all."""
    days = pl.Series([dt.date(2026, 8, 15), None, dt.date(1, 1, 1)])
    assert typed("date", days, format="%d/%m/%Y") == [dt.date(2026, 8, 15), None, None]  # year 1: as for text
    assert typed("date_precision", days, format="%d/%m/%Y") == ["day", None, None]
    assert typed("month", days) == [dt.date(2026, 8, 1), None, None]
    assert typed("datetime", days) == [dt.datetime(2026, 8, 15), None, None]
    stamps = pl.Series([dt.datetime(2026, 8, 15, 10, 0, 0, 123456), dt.datetime(2026, 8, 15, 23, 30)])
    assert typed("datetime", stamps) == [dt.datetime(2026, 8, 15, 10, 0, 0, 123456), dt.datetime(2026, 8, 15, 23, 30)]
    assert typed("date", stamps, format="%d/%m/%Y") == [dt.date(2026, 8, 15)] * 2
    # A timestamp with a time zone is read in Vietnam's local time (UTC+7), as naive ones are meant.
    aware = pl.Series([dt.datetime(2026, 8, 15, 20, 0)]).dt.replace_time_zone("UTC")
    assert typed("datetime", aware) == [dt.datetime(2026, 8, 16, 3, 0)]
    assert typed("date", aware, format="%d/%m/%Y") == [dt.date(2026, 8, 16)]


def test_text_is_parsed_as_before_beside_typed_columns():
    """The choice is per column by its type: the same dates as text follow the declared format."""
    assert run("date", ["2026-08-15", "15/08/2026"], format="%d/%m/%Y") == [None, dt.date(2026, 8, 15)]
    assert run("datetime", ["2026-08-15 10:00:00.123456", "2026-08-15 10:00:00"]) == [
        None, dt.datetime(2026, 8, 15, 10, 0)]
    assert typed("date", pl.Series([45000]), excel_serial=True) == [dt.date(2023, 3, 15)]  # a number, not typed


def test_a_yyyymmdd_number_through_a_float_column_is_its_date():
    """20260815 held as a number, in a float column (pandas' integers with a gap): "20260815.0"
    is no format a ministry declares, and was read as no date."""
    floats = pl.Series([20260815.0, None, 20260815.5])
    assert typed("date", floats, format="%Y%m%d") == [dt.date(2026, 8, 15), None, None]
    assert typed("date_precision", floats, format="%Y%m%d") == ["day", None, None]
    assert run("date", ["20260815.0", "15/08/2026"], format=["%Y%m%d", "%d/%m/%Y"]) == [dt.date(2026, 8, 15)] * 2
    assert typed("month", pl.Series([202608.0]), format="%Y%m") == [dt.date(2026, 8, 1)]
    assert typed("date", pl.Series([45000.0]), excel_serial=True) == [dt.date(2023, 3, 15)]
    # A NUMERIC(8,0) column, as connectorx reads it: a decimal of scale 10.
    numeric = pl.Series([20260815, None]).cast(pl.Decimal(38, 10))
    assert typed("date", numeric, format="%Y%m%d") == [dt.date(2026, 8, 15), None]
    assert typed("date_precision", numeric, format="%Y%m%d") == ["day", None]
