"""normalise/raw.py: a source's typed number read as the text of the number it holds."""

from decimal import Decimal

import polars as pl
import pyarrow as pa

from normalise.raw import text_of


def test_a_whole_number_in_a_float_or_decimal_column_is_written_as_an_integer():
    floats = pl.Series("v", [912345678.0, -3.0, 12.5, None, float("nan"), float("inf"), 1e20])
    assert text_of(floats).to_list() == ["912345678", "-3", "12.5", None, "NaN", "inf", "1e+20"]
    # connectorx's reading of a NUMERIC(12,0) and a NUMERIC(15,2): scale 10 either way
    decimals = pl.from_arrow(pa.table({"v": pa.array(
        [Decimal("79123456789"), Decimal("1500000.5"), None, Decimal("10") ** 27, Decimal("-0.0105"), Decimal("20.25")],
        type=pa.decimal128(38, 10),
    )}))["v"]  # fmt: skip
    # Whole: an integer (beyond Int64's range too); otherwise without the zeros of the scale.
    assert text_of(decimals).to_list() == [
        "79123456789", "1500000.5", None, "1000000000000000000000000000", "-0.0105", "20.25"
    ]  # fmt: skip
    assert text_of(decimals).name == "v"


def test_other_types_are_cast_as_before():
    assert text_of(pl.Series([1, None], dtype=pl.Int64)).to_list() == ["1", None]
    assert text_of(pl.Series([" 0912 ", None])).to_list() == [" 0912 ", None]
    assert text_of(pl.Series([True, False])).to_list() == ["true", "false"]
