"""Identifier and number normalisers: personal ID, digit strings, enterprise codes, amounts.

Identifiers stay text (leading zeros matter). A value that is not the expected shape is returned
cleaned but otherwise unchanged, so validation can reject it with the original characters visible.
"""

from __future__ import annotations

import polars as pl

from normalise.raw import as_text
from normalise.shortcut import on_rows, unless_clean

_SEPARATORS = r"[\s.\-]"


def _stripped(text: pl.Expr) -> pl.Expr:
    """`text` (a raw value through `as_text`, or `unless_clean`'s values) stripped; empty → null."""
    return text.cast(pl.String).str.strip_chars().replace("", None)


def without_float_tail(text: pl.Expr) -> pl.Expr:
    """Text without the ".0" a number gains in a float column ("912345678.0" in a CSV written by
    pandas; normalise/raw.py writes a typed float without it). Only a number (digits and
    separators) loses it: from other text, what stood before it would be left for the next run to
    change again (": .0" → ": " → ":"). The regex runs on the few values that end so (`on_rows`):
    a date column's every value is text here too."""

    def batch(values: pl.Series) -> pl.Series:
        return on_rows(values.str.ends_with(".0").fill_null(False), _float_tail_dropped, values)

    return text.map_batches(batch, return_dtype=pl.String, is_elementwise=True)


def _float_tail_dropped(values: pl.Series) -> pl.Series:
    return values.str.replace(r"^([\d\s.\-]*)\.0$", "${1}")


def digits(expr: pl.Expr) -> pl.Expr:
    """Remove separators (whitespace, dots, dashes) and a float's ".0" (`without_float_tail`), and
    keep the rest as text; empty → null."""
    return unless_clean(expr, r"^[0-9]+$", _digits)  # a run of digits is its own result


def _digits(expr: pl.Expr) -> pl.Expr:
    compact = without_float_tail(_stripped(expr)).str.replace_all(_SEPARATORS, "")
    return compact.replace("", None)


def personal_id(expr: pl.Expr) -> pl.Expr:
    """12-digit personal ID as text.

    Separators are removed; 10–11 digits are left-padded to 12 (spreadsheets drop the leading
    zeros of province codes 001–096); 9 digits (a legacy CMND) and any other shape come back
    unchanged for validation to judge. The ".0" of a number (one that went through a float
    column) is dropped first.
    """
    # A 12-digit ID or a 9-digit CMND, as most are written, is its own result.
    return unless_clean(expr, r"^(?:[0-9]{9}|[0-9]{12})$", _personal_id)


def _personal_id(expr: pl.Expr) -> pl.Expr:
    stripped = without_float_tail(_stripped(expr)).str.strip_chars().replace("", None)
    compact = stripped.str.replace_all(_SEPARATORS, "")
    return (
        pl.when(compact.str.contains(r"^\d{10,11}$"))
        .then(compact.str.zfill(12))
        .when(compact.str.contains(r"^\d+$"))
        .then(compact)
        .otherwise(stripped)
    )


def enterprise_code(expr: pl.Expr) -> pl.Expr:
    """Enterprise (tax) code: 10 digits, or a branch as "NNNNNNNNNN-NNN".

    Spaces, dots and a float's ".0" (`without_float_tail`) are removed; a 13-digit run or any
    dash/space layout of 10+3 digits becomes the canonical dash form. Other shapes come back with
    only the whitespace removed.
    """
    compact = without_float_tail(_stripped(as_text(expr))).str.replace_all(r"[\s.]", "").replace("", None)
    bare = compact.str.replace_all(r"[\-–—_/]", "")
    return (
        pl.when(bare.str.contains(r"^\d{10}$") & ~compact.str.contains(r"[\-–—_/]$"))
        .then(bare)
        .when(bare.str.contains(r"^\d{13}$"))
        .then(bare.str.slice(0, 10) + "-" + bare.str.slice(10, 3))
        .otherwise(compact)
    )


def _canonical_number(expr: pl.Expr) -> pl.Expr:
    """Rewrite a Vietnamese or English formatted amount to "[-]digits[.fraction]", or null.

    "1.500.000" and "1,500,000" (thousand groups) → "1500000"; "1.500.000,5" → "1500000.5";
    a single separator followed by exactly three digits is read as a thousand separator
    ("1.500" → 1500), since that is how VND amounts are written; any other single separator
    is a decimal point ("1,5" → 1.5). A currency suffix (đ, ₫, VND, VNĐ) is ignored.
    """
    raw = (
        _stripped(expr)
        .str.replace(r"(?i)\s*(vnđ|vnd|đồng|đ|₫)$", "")
        .str.replace_all(r"[\s_']", "")
    )
    return (
        pl.when(raw.str.contains(r"^[+-]?\d+$"))
        .then(raw)
        .when(raw.str.contains(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$"))
        .then(raw.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
        .when(raw.str.contains(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"))
        .then(raw.str.replace_all(",", "", literal=True))
        .when(raw.str.contains(r"^[+-]?\d*[.,]\d+$"))
        .then(raw.str.replace(",", ".", literal=True))
    )


def decimal(expr: pl.Expr) -> pl.Expr:
    """Amount as Float64 (see `_canonical_number` for the separator rules); unparseable → null."""
    return _canonical_number(expr).cast(pl.Float64, strict=False)


def integer(expr: pl.Expr) -> pl.Expr:
    """Whole number as Int64 ("1.500.000" → 1500000, "1500000.0" → 1500000); fractions → null."""
    number = _canonical_number(expr)
    whole = number.str.extract(r"^([+-]?\d+)(?:\.0*)?$", 1)
    return whole.str.strip_prefix("+").cast(pl.Int64, strict=False)
