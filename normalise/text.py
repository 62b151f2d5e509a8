"""Text and name normalisers: Unicode NFC, the Ð/Đ confusion, whitespace, case and tone style.

Every function takes a Polars expression (any dtype; it is cast to text) and returns a String
expression. Null in gives null out; a value that is empty after cleaning becomes null.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import polars as pl

from normalise.shortcut import unless_clean

# Ð (U+00D0, Icelandic eth) looks like Đ (U+0110) and old keyboards/fonts type it; ð is its lower case.
_ETH_TO_D_STROKE = {"\u00d0": "\u0110", "\u00f0": "\u0111"}
# Invisible characters that survive copy/paste from web forms and Word (zero-width, BOM, soft hyphen).
_INVISIBLE = r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
# Control characters (C0 but tab/newline/return, DEL, C1): a NUL byte in a name breaks C readers
# and exports, and none is ever part of a Vietnamese name or address. Tab/newline/return are
# whitespace and collapse to one space below.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
# Combining tone marks (NFD): grave, acute, tilde, hook above, dot below.
_TONES = "[\u0300\u0301\u0303\u0309\u0323]"


# The characters of a value already clean: printable ASCII, and the Latin blocks whose precomposed
# letters Vietnamese is written with (Latin-1's letters and × ÷, Latin Extended-A, Extended-B up to
# ư, the Vietnamese part of Latin Extended Additional), Ð and ð left out (`text` rewrites them). None
# is invisible, a control or a combining mark, and NFC leaves each as it is, alone or beside any
# other (tests check every pair).
_CLEAN_CHARACTER = r"[!-~\u00C0-\u00CF\u00D1-\u00EF\u00F1-\u01B0\u1EA0-\u1EF9]"
# Words of such characters separated by single spaces: a value of this shape is already what
# `text` makes of it (no run of whitespace, nothing at either end to strip). IDs, codes, phones and
# dates mostly are such values, and so are most names and addresses written in Vietnamese;
# checking the shape costs a tenth of the passes.
_CLEAN = rf"^{_CLEAN_CHARACTER}+(?: {_CLEAN_CHARACTER}+)*$"


def text(expr: pl.Expr) -> pl.Expr:
    """Strip, NFC, Ð→Đ, drop invisible and control characters, collapse inner whitespace; empty → null."""
    return unless_clean(expr, _CLEAN, _cleaned)


def _cleaned(expr: pl.Expr) -> pl.Expr:
    """Every pass of `text`, on every value."""
    # NFC last: removing an invisible character can bring a letter and its combining mark together.
    cleaned = (
        expr
        .str.replace_all(_INVISIBLE, "")
        .str.replace_all(_CONTROL, "")
        # a combining mark with no letter before it (after a space, or first) is debris
        .str.replace_all(r"(^|\s)\p{M}+", "${1}")
        .str.replace_many(list(_ETH_TO_D_STROKE), list(_ETH_TO_D_STROKE.values()))
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.normalize("NFC")
    )
    # .replace keeps the tree flat (a when/then would evaluate `cleaned` twice without CSE)
    return cleaned.replace("", None)


def lower(expr: pl.Expr) -> pl.Expr:
    """`text`, then lower case."""
    return text(expr).str.to_lowercase()


def upper(expr: pl.Expr) -> pl.Expr:
    """`text`, then upper case."""
    return text(expr).str.to_uppercase()


def name(expr: pl.Expr) -> pl.Expr:
    """Display form of a person's name: `text` + title case per word; the tone style is kept."""
    return text(expr).str.to_titlecase()


def _fold_tone_style(nfd_lower: pl.Expr) -> pl.Expr:
    """Move the tone of a word-final oa/oe/uy onto its first vowel (hoà→hòa, khoẻ→khỏe, thuỷ→thủy).

    Works on lower-case NFD text, where the tone is a combining mark right after its vowel.
    Only open syllables are touched (a tone followed by a consonant, as in "hoàng", "huỳnh", is
    placed the same way in both styles); "qu" is a consonant, so "quý" keeps its tone on the y.
    """
    oa_oe = nfd_lower.str.replace_all(rf"o([ae])({_TONES})\b", "o${2}${1}")
    return oa_oe.str.replace_all(rf"(^|[^q])uy({_TONES})\b", "${1}u${2}y")


def name_key_accented(expr: pl.Expr) -> pl.Expr:
    """Match key that keeps diacritics: `text`, lower case, tone placement folded to hòa/thủy/khỏe."""
    nfd = text(expr).str.to_lowercase().str.normalize("NFD")
    return _fold_tone_style(nfd).str.normalize("NFC")


def name_key(expr: pl.Expr) -> pl.Expr:
    """Diacritic-free match key: lower case, marks removed, đ→d ("Nguyễn Thị Thủy" → "nguyen thi thuy").

    Folding the tone style first (as `name_key_accented` does) cannot change this key, since every
    tone mark is removed anyway; skipping it saves two regex passes per row.
    """
    key = (
        text(expr)
        .str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.replace_all("đ", "d", literal=True)
    )
    return key.replace("", None)  # a value of marks only has no key


def map_values(
    expr: pl.Expr, values: Mapping[str, str | None], default: str | None = None
) -> pl.Expr:
    """Map a cleaned (`text`) value through `values`; a value not in it becomes `default` (or null)."""
    keys = pl.Series([str(k) for k in values], dtype=pl.String)
    cleaned_keys = pl.select(text(pl.lit(keys))).to_series()
    targets = pl.Series([None if v is None else str(v) for v in values.values()], dtype=pl.String)
    return _map_cleaned(text(expr), cleaned_keys, targets, default)


def _map_cleaned(
    cleaned: pl.Expr, keys: pl.Series, targets: pl.Series, default: str | None
) -> pl.Expr:
    mapped = cleaned.replace_strict(keys, targets, default=default, return_dtype=pl.String)
    return mapped if default is None else pl.when(cleaned.is_not_null()).then(mapped)


DEFAULT_SEX_VALUES: Mapping[str, str] = {
    "Nam": "male",
    "Nữ": "female",
    "1": "male",
    "0": "female",
    "M": "male",
    "F": "female",
}


def sex(expr: pl.Expr, values: Mapping[str, str] | None = None) -> pl.Expr:
    """Sex as "male" / "female" / null: the raw value matched case- and NFC-insensitively in `values`.

    The canonical outputs map to themselves, so the normaliser can be applied to its own output.
    """
    table = dict(DEFAULT_SEX_VALUES if values is None else values)
    folded: dict[str, str] = {"male": "male", "female": "female"}
    for raw, canonical in table.items():
        folded[_casefold_literal(str(raw))] = canonical
    keys = pl.Series(list(folded), dtype=pl.String)
    targets = pl.Series(list(folded.values()), dtype=pl.String)
    return _map_cleaned(lower(expr), keys, targets, None)


@cache
def _casefold_literal(value: str) -> str:
    """The same cleaning as `lower`, for a Python literal (so table keys compare like the data)."""
    return pl.select(lower(pl.lit(value, dtype=pl.String))).item() or ""
