"""Vietnamese phone numbers to E.164, validated with `phonenumbers`' rules (region VN).

The rewriting (separators, country prefix, the 2018 eleven-digit mobile prefixes) is a Polars
expression. Validation uses phonenumbers' own VN metadata (general description and number-type
patterns with possible lengths) compiled to Polars regexes, so a million distinct numbers need
no million Python calls; `is_valid_vn_national` (phonenumbers itself) is the reference the tests
hold the compiled rule to. Conditional steps run once per batch inside `map_batches` on whole
Series, so they are computed once even where Polars does no common-subexpression elimination.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata

from normalise.identifiers import without_float_tail
from normalise.raw import as_text
from normalise.shortcut import on_rows, unless_clean

# 2018 conversion of 11-digit mobile numbers (01xx → 0xx), as in the rule book.
OLD_MOBILE_PREFIXES: dict[str, str] = {
    # Viettel
    "0162": "032", "0163": "033", "0164": "034", "0165": "035",
    "0166": "036", "0167": "037", "0168": "038", "0169": "039",
    # MobiFone
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    # VinaPhone
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    # Vietnamobile
    "0186": "056", "0188": "058",
    # Gmobile
    "0199": "059",
}  # fmt: skip

# 2017 landline area codes named in the rule book (Hà Nội 04 → 024, HCMC 08 → 028). Tried only
# when the number as written is not valid today: "08x…" is a VinaPhone mobile range now, so an
# old HCMC number that also reads as a valid mobile cannot be told apart and is kept as written.
OLD_LANDLINE_PREFIXES: dict[str, str] = {"04": "024", "08": "028"}

_NATIONAL_SHAPE = r"^0\d{8,10}$"
_ASCII_SHAPE = r"^0[0-9]{8,10}$"


# A national number as written (0, then not 0, then 8–9 digits; nothing else): what `_dialled`
# makes of it unchanged (no separator, no country prefix, a leading zero already). Most numbers
# a ministry holds are so written: the four regex passes run on the others only.
_DIALLED_ALREADY = r"^0[1-9][0-9]{8,9}$"


def _dialled(expr: pl.Expr) -> pl.Expr:
    """Raw text → digits as dialled in Vietnam: separators removed, +84 / 0084 / 84 → 0, a
    leading zero a spreadsheet dropped restored."""
    return unless_clean(expr, _DIALLED_ALREADY, _dialling)


def _dialling(expr: pl.Expr) -> pl.Expr:
    """`_dialled`'s regex replacements, on every value."""
    return (
        without_float_tail(expr.str.strip_chars())  # 912345678.0: a float column's (the 0 it lost comes back below)
        .str.replace_all(r"[\s.\-()/\\,]", "")
        # +84 / 0084 / bare 84 (with or without a redundant trunk zero after it) → 0
        .str.replace(r"^(?:\+|00)840?", "0")
        .str.replace(r"^840?(\d{9,10})$", "0${1}")
        .str.replace(r"^([35789]\d{8}|2\d{9})$", "0${1}")
    )


def _national_frame(dialled: pl.Series) -> pl.DataFrame:
    """Per batch: the 2018 01xx prefix mapping, then the national-number shape (else null).

    Eager steps on whole Series, so each intermediate is computed once (no CSE needed); the
    prefix mapping looks at the few 11-digit 01xx numbers only.
    """
    national = on_rows(dialled.str.contains(r"^01\d{9}$").fill_null(False), _new_mobile_prefix, dialled)
    n = pl.col("national")
    return national.alias("national").to_frame().select(national=pl.when(n.str.contains(_NATIONAL_SHAPE)).then(n))


def _new_mobile_prefix(numbers: pl.Series) -> pl.Series:
    """11-digit 01xx numbers with their 2018 prefix; one whose prefix was not renumbered, as written."""
    new_prefix = numbers.str.slice(0, 4).replace_strict(OLD_MOBILE_PREFIXES, default=None, return_dtype=pl.String)
    return (new_prefix + numbers.str.slice(4)).fill_null(numbers)


def national_number(expr: pl.Expr) -> pl.Expr:
    """Raw text → a 0-prefixed national number (not yet validated), or null when no digits fit.

    Removes separators, turns +84 / 0084 / 84 (11–12 digits) into 0, restores a leading zero that
    a spreadsheet dropped, and maps 11-digit 01xx mobile prefixes to their 2018 replacements.
    """
    return _dialled(expr).map_batches(
        lambda dialled: _national_frame(dialled).to_series().alias(dialled.name),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def _old_landline(national: pl.Series) -> pl.Series:
    """The 2017 renumbering of a 10-digit 04/08 landline (04 3825 1234 → 024 3825 1234); else null."""
    n = pl.col("n")
    new_code = n.str.slice(0, 2).replace_strict(OLD_LANDLINE_PREFIXES, default=None, return_dtype=pl.String)
    renumbered = pl.when(n.str.contains(r"^0[48]\d{8}$")).then(new_code + n.str.slice(2))
    return national.to_frame("n").select(renumbered).to_series()


@lru_cache(maxsize=1 << 16)
def is_valid_vn_national(national: str) -> bool:
    """phonenumbers' own verdict for one 0-prefixed national number (the reference; memoised)."""
    try:
        parsed = phonenumbers.parse(national, "VN")
    except phonenumbers.NumberParseException:
        return False
    return parsed.country_code == 84 and phonenumbers.is_valid_number(parsed)


@dataclass(frozen=True)
class _NumberDesc:
    pattern: str
    lengths: tuple[int, ...]


@cache
def _vn_number_descs() -> tuple[_NumberDesc, tuple[_NumberDesc, ...]]:
    """phonenumbers' VN metadata: the general description and every number type it defines.

    phonenumbers calls a number valid for a region when its national significant number matches
    the general description and at least one type (pattern fully matched, length among the
    type's possible lengths). The same patterns run here as Rust regexes over whole columns:
    calling phonenumbers per value costs ~33 µs, i.e. half a minute per million distinct numbers.
    tests/test_normalise_phone.py checks the two verdicts agree on every 4-digit prefix.
    """
    metadata = PhoneMetadata.metadata_for_region("VN")

    def desc(number_desc: object) -> _NumberDesc | None:
        pattern = getattr(number_desc, "national_number_pattern", None)
        if not pattern:
            return None
        return _NumberDesc(pattern, tuple(getattr(number_desc, "possible_length", ()) or ()))

    general = desc(metadata.general_desc)
    assert general is not None, "phonenumbers has no VN metadata"
    kinds = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
             "uan", "voicemail", "fixed_line", "mobile")  # fmt: skip
    types = tuple(d for k in kinds if (d := desc(getattr(metadata, k, None))) is not None)
    return general, types


def _matches_desc(significant: pl.Expr, desc: _NumberDesc) -> pl.Expr:
    matched = significant.str.contains(f"^(?:{desc.pattern})$")
    if desc.lengths:
        matched = matched & significant.str.len_chars().is_in(list(desc.lengths))
    return matched


def vn_national_valid(national: pl.Expr) -> pl.Expr:
    """phonenumbers' validity rule for 0-prefixed national numbers, as a Polars expression."""
    significant = national.str.strip_prefix("0")
    general, types = _vn_number_descs()
    return _matches_desc(significant, general) & pl.any_horizontal(
        [_matches_desc(significant, d) for d in types]
    )


# Every pattern of phonenumbers' VN metadata is a fixed-width prefix (at most 4 digits of the
# national significant number) followed by \d repeats, so on a number of digits the rule's verdict
# depends only on those first digits and the length: a table of them replaces a dozen regex passes.
_KEY_DIGITS = 4
_SIGNIFICANT_LENGTHS = (8, 9, 10)  # the lengths _NATIONAL_SHAPE lets through


def _is_digit_run(item: tuple) -> bool:
    r"""A `\d` or a repeat of `\d` (sre's parse of a pattern)."""
    from re import _constants as c

    digit = (c.IN, [(c.CATEGORY, c.CATEGORY_DIGIT)])
    op, av = item
    return (op, av) == digit or (op in (c.MAX_REPEAT, c.MIN_REPEAT) and list(av[2]) == [digit])


def _fixed_width(items: list) -> int | None:
    """Characters the parsed items always match, or None if that varies or cannot be told."""
    from re import _constants as c

    width = 0
    for op, av in items:
        if op in (c.LITERAL, c.IN):
            width += 1
        elif op is c.BRANCH:
            widths = {_fixed_width(list(branch)) for branch in av[1]}
            if len(widths) != 1 or None in widths:
                return None
            width += widths.pop()  # type: ignore[operator]
        elif op is c.SUBPATTERN:
            inner = _fixed_width(list(av[3]))
            if inner is None:
                return None
            width += inner
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] == av[1]:
            inner = _fixed_width(list(av[2]))
            if inner is None:
                return None
            width += av[0] * inner
        else:
            return None
    return width


def _prefix_width(items: list) -> int | None:
    r"""The width before a tail of `\d` runs, the largest over the alternatives (the rest of the
    pattern carried into each branch: Python's parser factors a common prefix out of `a|b`); None
    where one is not of fixed width."""
    from re import _constants as c

    if all(_is_digit_run(item) for item in items):
        return 0
    (op, av), rest = items[0], items[1:]
    if op is c.BRANCH:
        widths = [_prefix_width([*branch, *rest]) for branch in av[1]]
        return None if None in widths else max(widths)  # type: ignore[type-var]
    if op is c.SUBPATTERN:
        return _prefix_width([*av[3], *rest])
    head, tail = _fixed_width([items[0]]), _prefix_width(rest)
    return None if head is None or tail is None else head + tail


def _number_key(national: pl.Expr) -> pl.Expr:
    """A 0-prefixed national number's first significant digits and length, as one integer."""
    return national.str.slice(1, _KEY_DIGITS).cast(pl.Int32, strict=False) * 16 + national.str.len_chars()


@cache
def _valid_keys() -> pl.Series | None:
    r"""The keys (`_number_key`) of the valid numbers: the rule judged once on each prefix and
    length; None if a pattern is not a fixed-width prefix of at most `_KEY_DIGITS` digits before
    `\d` runs (new metadata): then the regexes run on every number, as the rule is written."""
    from re import _parser

    general, types = _vn_number_descs()
    try:
        widths = [_prefix_width(list(_parser.parse(d.pattern))) for d in (general, *types)]
    except Exception:  # a pattern Python's parser reads otherwise than Rust's: judge by regex
        return None
    if None in widths or max(widths) > _KEY_DIGITS:  # type: ignore[type-var,operator]
        return None
    candidates = pl.Series(
        "n",
        [f"0{prefix:0{_KEY_DIGITS}d}{'0' * (length - _KEY_DIGITS)}"
         for prefix in range(10**_KEY_DIGITS) for length in _SIGNIFICANT_LENGTHS],
    )
    judged = candidates.to_frame().select(_number_key(pl.col("n")).alias("key"), vn_national_valid(pl.col("n")))
    return judged.filter(pl.col("n"))["key"]


def _by_regex(values: pl.Series) -> pl.Series:
    """The rule as written (shape, then phonenumbers' patterns), on numbers present."""
    n = pl.col("n")
    return values.to_frame("n").select(n.str.contains(_NATIONAL_SHAPE) & vn_national_valid(n)).to_series().fill_null(False)


def _valid_mask(numbers: pl.Series) -> pl.Series:
    """True where the 0-prefixed national number is valid (null → False).

    The rule runs on the numbers present only (a null slot costs a regex pass as much as a value
    does, and a column may be mostly null: the 2017 renumbering applies to few), by the table of
    valid prefixes and lengths where the metadata allows (`_valid_keys`)."""
    present = numbers.is_not_null()
    if present.all():
        return _valid_present(numbers).alias(numbers.name)
    return on_rows(present, _valid_present, numbers, into=pl.zeros(numbers.len(), pl.Boolean, eager=True)).alias(
        numbers.name
    )


def _valid_present(values: pl.Series) -> pl.Series:
    """`_valid_mask` of numbers none of which is null."""
    keys = _valid_keys()
    if keys is None:
        return _by_regex(values)
    ascii_shaped = values.str.contains(_ASCII_SHAPE)
    verdict = values.to_frame("n").select(_number_key(pl.col("n")).is_in(keys.implode())).to_series()
    # Polars' \d is Unicode: a number with other digits (rare) passes the shape, not the
    # table. Such numbers are among the few not of the ASCII shape: the rule as written judges them.
    return on_rows(~ascii_shaped, _by_regex, values, into=(ascii_shaped & verdict).fill_null(False))


def _to_e164(national: pl.Expr) -> pl.Expr:
    return pl.lit("+84") + national.str.slice(1)


def _e164_batch(dialled: pl.Series) -> pl.Series:
    """E.164 for a batch: the national number if valid, else its 2017 landline form if valid."""
    frame = _national_frame(dialled)
    frame = frame.with_columns(valid=_valid_mask(frame["national"]))
    # The renumbered form is tried only where the number as written is not valid (few rows).
    nothing = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
    renumbered = on_rows(~frame["valid"], _old_landline, frame["national"], into=nothing).alias("renumbered")
    frame = frame.with_columns(renumbered, renumbered_valid=_valid_mask(renumbered))
    e164 = frame.select(
        pl.when("valid")
        .then(_to_e164(pl.col("national")))
        .when("renumbered_valid")
        .then(_to_e164(pl.col("renumbered")))
    )
    return e164.to_series().alias(dialled.name)


def phone(expr: pl.Expr) -> pl.Expr:
    """E.164 ("+84912345678") for a number valid in Vietnam today; null otherwise."""
    return _dialled(expr).map_batches(_e164_batch, return_dtype=pl.String, is_elementwise=True)


def phone_valid(expr: pl.Expr) -> pl.Expr:
    """Whether `phone` finds an E.164 number for the raw value; null raw (or blank) → null."""
    return phone_valid_from(expr, phone(expr))


def phone_valid_from(expr: pl.Expr, e164: pl.Expr) -> pl.Expr:
    """`phone_valid` of the raw value, given `phone` of the same value (computed once, not twice)."""
    raw = as_text(expr)
    return pl.when(raw.str.strip_chars().str.len_bytes() > 0).then(e164.is_not_null())


def e164_valid_vn(e164: pl.Expr) -> pl.Expr:
    """True for an E.164 string that is a valid Vietnamese number; null stays null."""
    national = pl.lit("0") + e164.str.extract(r"^\+84(\d{8,10})$", 1)  # null unless +84…
    valid = national.map_batches(_valid_mask, return_dtype=pl.Boolean, is_elementwise=True)
    return pl.when(e164.is_not_null()).then(valid)
