"""Date, month and timestamp normalisers, with partial dates of birth and Excel serial numbers.

Formats are strftime patterns tried in order; the first that parses wins. Impossible dates
(31/02/1990, 00/13/1980) and unparseable text become null, never an exception.

A column the source already types as a date or timestamp (a SQL DATE or TIMESTAMP, a Parquet
date, a JSON timestamp) is taken as it is, not parsed: its text form ("2026-08-15", or
"2026-08-15 10:00:00.123456") is no format the catalogue declares for a ministry's text, and
parsing it would null a good value. The choice is made per column by its type, so text is parsed
exactly as it would be without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import polars as pl

from normalise.identifiers import without_float_tail
from normalise.raw import text_of

DEFAULT_DATE_FORMATS: tuple[str, ...] = ("%d/%m/%Y", "%Y-%m-%d")
DEFAULT_MONTH_FORMATS: tuple[str, ...] = ("%m/%Y",)
DEFAULT_DATETIME_FORMATS: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)

# Partial dates write the unknown parts as zeros: 00/00/1950 (year known), 00/07/1950 (month known).
_SEP = r"[/.\-]"
_DAY_FIRST_YEAR_ONLY = rf"^0{{1,2}}({_SEP})0{{1,2}}({_SEP})(\d{{4}})$"
_DAY_FIRST_MONTH_ONLY = rf"^0{{1,2}}({_SEP})(\d{{1,2}})({_SEP})(\d{{4}})$"
_ISO_YEAR_ONLY = rf"^(\d{{4}})({_SEP})0{{1,2}}({_SEP})0{{1,2}}$"
_ISO_MONTH_ONLY = rf"^(\d{{4}})({_SEP})(\d{{1,2}})({_SEP})0{{1,2}}$"

# Source timestamps with a time zone are read as local Vietnam time, as naive ones are meant.
_LOCAL_TIME_ZONE = "Asia/Ho_Chi_Minh"

# Excel's day 0 is 1899-12-30 for serials after the fictitious 29/02/1900; 2958465 = 9999-12-31.
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_MAX_SERIAL = 2_958_465


def formats_of(format: str | Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    """The `format` option as a tuple of strftime patterns (a single string is one pattern)."""
    if format is None:
        return tuple(default)
    if isinstance(format, str):
        return (format,)
    return tuple(format)


def _stripped(expr: pl.Expr) -> pl.Expr:
    # 20260815.0, a YYYYMMDD number (or an Excel serial) that went through a float column. A typed
    # number is already written as its digits (`_typed_or_parsed`: normalise/raw.py).
    return without_float_tail(expr.cast(pl.String).str.strip_chars())


def _typed_or_parsed(expr: pl.Expr, parse: Callable[[pl.Expr], pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """`expr` as `dtype`: taken as it is when the source typed it as a date or timestamp, else
    (text, and numbers such as Excel serials or YYYYMMDD, written as normalise/raw.py writes them)
    `parse(expr)`, exactly as for text."""

    def batch(values: pl.Series) -> pl.Series:
        if isinstance(values.dtype, pl.Date | pl.Datetime):
            return _from_typed(values, dtype)
        return text_of(values).to_frame("v").select(parse(pl.col("v"))).to_series().alias(values.name)

    return expr.map_batches(batch, return_dtype=dtype, is_elementwise=True)


def _from_typed(values: pl.Series, dtype: pl.DataType) -> pl.Series:
    """A typed date or timestamp as `dtype`, in local time, with the text path's year check."""
    if isinstance(values.dtype, pl.Datetime) and values.dtype.time_zone is not None:
        values = values.dt.convert_time_zone(_LOCAL_TIME_ZONE).dt.replace_time_zone(None)
    return values.to_frame("v").select(_four_digit_year(pl.col("v").cast(dtype))).to_series().alias(values.name)


def _has_day_first(formats: Sequence[str]) -> bool:
    return any(f.startswith("%d") for f in formats)


def _has_year_first(formats: Sequence[str]) -> bool:
    return any(f.startswith("%Y") for f in formats)


def _fill_partial(raw: pl.Expr, formats: Sequence[str]) -> pl.Expr:
    """Replace the zero day/month of a partial date by 01, in the layouts the formats use."""
    filled = raw
    if _has_day_first(formats):
        filled = filled.str.replace(_DAY_FIRST_YEAR_ONLY, "01${1}01${2}${3}").str.replace(
            _DAY_FIRST_MONTH_ONLY, "01${1}${2}${3}${4}"
        )
    if _has_year_first(formats):
        filled = filled.str.replace(_ISO_YEAR_ONLY, "${1}${2}01${3}01").str.replace(
            _ISO_MONTH_ONLY, "${1}${2}${3}${4}01"
        )
    return filled


def _is_year_only(raw: pl.Expr, formats: Sequence[str]) -> pl.Expr:
    checks = [pl.lit(False)]
    if _has_day_first(formats):
        checks.append(raw.str.contains(_DAY_FIRST_YEAR_ONLY))
    if _has_year_first(formats):
        checks.append(raw.str.contains(_ISO_YEAR_ONLY))
    return pl.any_horizontal(checks)


def _is_month_only(raw: pl.Expr, formats: Sequence[str]) -> pl.Expr:
    checks = [pl.lit(False)]
    if _has_day_first(formats):
        checks.append(raw.str.contains(_DAY_FIRST_MONTH_ONLY))
    if _has_year_first(formats):
        checks.append(raw.str.contains(_ISO_MONTH_ONLY))
    return pl.any_horizontal(checks)


def _excel_serial_date(raw: pl.Expr) -> pl.Expr:
    """An Excel serial day number ("33604" or "33604.5") as a date; anything else → null."""
    serial = raw.str.extract(r"^(\d{1,7})(?:\.\d+)?$", 1).cast(pl.Int64, strict=False)
    in_range = (serial >= 1) & (serial <= _EXCEL_MAX_SERIAL)
    return pl.when(in_range).then(pl.lit(_EXCEL_EPOCH) + pl.duration(days=serial))


def _four_digit_year(parsed: pl.Expr) -> pl.Expr:
    """Null for a year under 1000: chrono reads "1/1/0" with %Y as year 0, a date no record has
    and one Python cannot even hold (readers of silver would fail on it): it is unparsed, so the
    date rules quarantine the row instead."""
    return pl.when(parsed.dt.year() >= 1000).then(parsed)


def _parse_dates(raw: pl.Expr, formats: Sequence[str], excel_serial: bool) -> pl.Expr:
    filled = _fill_partial(raw, formats)
    parsed = [_four_digit_year(filled.str.strptime(pl.Date, f, strict=False)) for f in formats]
    if excel_serial:
        parsed.append(_excel_serial_date(raw))
    return pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]


def date(
    expr: pl.Expr,
    format: str | Sequence[str] | None = None,
    excel_serial: bool = False,
) -> pl.Expr:
    """Parse to pl.Date. Partial dates take day/month 1 (00/07/1950 → 1950-07-01)."""
    formats = formats_of(format, DEFAULT_DATE_FORMATS)
    return _typed_or_parsed(expr, lambda raw: _parse_dates(_stripped(raw), formats, excel_serial), pl.Date())


def date_precision(
    expr: pl.Expr,
    format: str | Sequence[str] | None = None,
    excel_serial: bool = False,
) -> pl.Expr:
    """Precision of a value `date` parses: "day" | "month" | "year"; null when it does not parse."""
    return date_precision_from(expr, date(expr, format, excel_serial), format)


def date_precision_from(
    expr: pl.Expr,
    parsed: pl.Expr,
    format: str | Sequence[str] | None = None,
    excel_serial: bool = False,
) -> pl.Expr:
    """`date_precision` of the raw value, given `date` of the same value with the same options
    (parsed once, not twice). `excel_serial` is `date`'s: a serial is a day, as any other date."""
    formats = formats_of(format, DEFAULT_DATE_FORMATS)
    raw = _stripped(expr)
    return (
        pl.when(parsed.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(_is_year_only(raw, formats))
        .then(pl.lit("year"))
        .when(_is_month_only(raw, formats))
        .then(pl.lit("month"))
        .otherwise(pl.lit("day"))
    )


def month(expr: pl.Expr, format: str | Sequence[str] | None = None) -> pl.Expr:
    """A month ("07/1950") as the pl.Date of its first day."""
    formats = formats_of(format, DEFAULT_MONTH_FORMATS)

    def parse(raw: pl.Expr) -> pl.Expr:
        stripped = _stripped(raw)
        parsed = [_four_digit_year(_strptime_month(stripped, f)) for f in formats]
        return pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]

    return _typed_or_parsed(expr, parse, pl.Date()).dt.month_start()


def _strptime_month(raw: pl.Expr, fmt: str) -> pl.Expr:
    if "%d" in fmt or "%j" in fmt:
        return raw.str.strptime(pl.Date, fmt, strict=False)
    # chrono needs a day: give it one in front, with a separator no format uses.
    return (pl.lit("01\x1f") + raw).str.strptime(pl.Date, "%d\x1f" + fmt, strict=False)


def datetime(expr: pl.Expr, format: str | Sequence[str] | None = None) -> pl.Expr:
    """Parse to pl.Datetime("us") (naive: source timestamps are local Vietnam time)."""
    formats = formats_of(format, DEFAULT_DATETIME_FORMATS)

    def parse(raw: pl.Expr) -> pl.Expr:
        stripped = _stripped(raw)
        parsed = [_four_digit_year(stripped.str.strptime(pl.Datetime("us"), f, strict=False)) for f in formats]
        return pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]

    return _typed_or_parsed(expr, parse, pl.Datetime("us"))
