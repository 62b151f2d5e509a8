"""Property tests: no normaliser raises on any text, and the cleaning ones are idempotent."""

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalise import NORMALISERS, normaliser
from normalise.identifiers import _digits, _personal_id, digits, personal_id
from normalise.phone import _dialled, _dialling
from normalise.text import _cleaned, text

OPTIONS = {"map": {"values": {"a": "b", "Đ": "d"}}, "date": {"excel_serial": True}}
EXPECTED_DTYPES = {
    "date": pl.Date, "date_precision": pl.String, "month": pl.Date, "datetime": pl.Datetime("us"),
    "integer": pl.Int64, "decimal": pl.Float64, "phone_valid": pl.Boolean,
    "ward_needs_review": pl.Boolean, "ward_2025_candidates": pl.List(pl.String),
}  # fmt: skip
IDEMPOTENT = ["text", "name", "name_key", "name_key_accented", "personal_id", "digits", "phone",
              "lower", "upper", "enterprise_code", "province_code", "ward_code"]  # fmt: skip

# Characters that exercise the rules: digits, separators, Vietnamese letters in both forms,
# combining tone marks, Ð/ð, zero-width and odd spaces.
RULE_BOOK_ALPHABET = list(
    "0123456789 .-+/,:()" "AaĂăÂâĐđÐðEeÊêIiOoÔôƠơUuƯưYyQqGgHhNnTt" "ÀàÁáẢảÃãẠạỲỳÝýỶỷỸỹỴỵ"
    "\u0300\u0301\u0303\u0309\u0323\u0302\u200b\u00a0\u3000\t\n"
)
values = st.lists(
    st.one_of(
        st.none(),
        st.text(max_size=30),
        st.text(alphabet=RULE_BOOK_ALPHABET, max_size=25),
        st.from_regex(r"\+?(84|0)?1?[0-9 .\-]{7,13}", fullmatch=True),
        st.from_regex(r"[0-3]?[0-9]/[01]?[0-9]/(19|20)[0-9]{2}", fullmatch=True),
    ),
    min_size=1,
    max_size=12,
)

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def frame_of(raw: list) -> pl.DataFrame:
    return pl.DataFrame({"raw": pl.Series(raw, dtype=pl.String)})


@PROPERTY_SETTINGS
@given(values)
def test_no_normaliser_raises_and_null_stays_null(raw):
    exprs = [
        normaliser(name)(pl.col("raw"), **OPTIONS.get(name, {})).alias(name)
        for name in NORMALISERS
    ]
    out = frame_of(raw).select(exprs)
    assert out.height == len(raw)
    for name in NORMALISERS:
        assert out[name].dtype == EXPECTED_DTYPES.get(name, pl.String), name
        nulls_in = [v is None for v in raw]
        assert all(o is None for o, null in zip(out[name].to_list(), nulls_in, strict=True) if null), name


@PROPERTY_SETTINGS
@given(values)
def test_cleaning_normalisers_are_idempotent(raw):
    frame = frame_of(raw)
    once = frame.select(
        [normaliser(name)(pl.col("raw")).alias(name) for name in IDEMPOTENT]
    )
    twice = once.select([normaliser(name)(pl.col(name)).alias(name) for name in IDEMPOTENT])
    for name in IDEMPOTENT:
        assert twice[name].to_list() == once[name].to_list(), name


# normalise/shortcut.py: a normaliser skips its passes for the values already in its result's
# shape. With the shortcut, each must give exactly what its passes give on every value, whatever
# mix of clean and dirty values a batch holds.
SHORTCUTS = {"text": (text, _cleaned), "dialled": (_dialled, _dialling),
             "personal_id": (personal_id, _personal_id), "digits": (digits, _digits)}  # fmt: skip
near_clean = st.lists(
    st.one_of(
        st.none(),
        st.from_regex(r"[!-~]{1,8}( [!-~]{1,8}){0,2}", fullmatch=True),  # clean ASCII words
        # words of characters from À to ỹ (Vietnamese's letters among them, clean for `text`, and
        # others that are not), and Vietnamese letters decomposed, with Ð/ð, a soft hyphen, a
        # zero-width space and runs of spaces
        st.from_regex(r"[A-Za-z\u00c0-\u1ef9]{1,6}( [A-Za-z\u00c0-\u1ef9]{1,6}){0,3}", fullmatch=True),
        st.text(alphabet="aăâeêioôơuưyAĐÐðđ \u0300\u0301\u0303\u0309\u0323\u00ad\u200bẠỹ", max_size=12),
        st.from_regex(r"0?[0-9]{8,12}", fullmatch=True),  # IDs and phones as most are written
        st.from_regex(r"(\+|00)?(84)?[0-9 .\-()]{7,15}(\.0)?", fullmatch=True),
        st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12),
        st.text(alphabet="0123456789 .-+()\t\u0663\u00a0x", max_size=14),
        st.text(max_size=12),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_clean)
def test_with_the_shortcut_each_normaliser_gives_what_its_passes_give(raw):
    frame = frame_of(raw)
    for name, (shortcut, passes) in SHORTCUTS.items():
        with_shortcut = frame.select(shortcut(pl.col("raw"))).to_series().to_list()
        assert with_shortcut == frame.select(passes(pl.col("raw"))).to_series().to_list(), name
