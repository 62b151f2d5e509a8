"""A source's raw value as text, before any normaliser reads it.

Normalisers read text. A value the source typed as a number is written as the number it holds:
connectorx reads every SQL `NUMERIC`/`DECIMAL`, even `NUMERIC(12,0)`, as a decimal of scale 10
("79123456789.0000000000"), and a float column (pandas' integers with a gap, a `DOUBLE`) writes
"912345678.0". An ID, phone, code or date kept in such a column is its whole number, so a whole
number is written without a fraction; any other number as Polars writes it, less the zeros that
only the decimal's scale put there ("1500000.5", not "1500000.5000000000"). Text from a float
column ("912345678.0" in a CSV) loses its ".0" in the normalisers that read numbers
(identifiers.without_float_tail).
"""

from __future__ import annotations

import polars as pl


def as_text(expr: pl.Expr) -> pl.Expr:
    """`expr` as text, a whole number typed as a float or decimal written as an integer."""
    return expr.map_batches(text_of, return_dtype=pl.String, is_elementwise=True)


def text_of(values: pl.Series) -> pl.Series:
    """`as_text` of one batch."""
    if not (values.dtype.is_decimal() or values.dtype.is_float()):
        return values.cast(pl.String)
    whole = values.cast(pl.Int64, strict=False)  # null where out of range, NaN or infinite
    is_whole = (whole.cast(values.dtype, strict=False) == values).fill_null(False)
    fraction = values.cast(pl.String)
    if values.dtype.is_decimal():  # a decimal's text has all its scale's digits; a float's has none to spare
        fraction = fraction.str.replace(r"\.0+$", "").str.replace(r"(\.\d*?[1-9])0+$", "${1}")
    written = pl.select(pl.when(is_whole).then(whole.cast(pl.String)).otherwise(fraction))
    return written.to_series().alias(values.name)
