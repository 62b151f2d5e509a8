"""Normalisers by name, as the catalogue YAML refers to them, with checks of their options.

    normaliser("date")(pl.col("ngay_sinh"), format="%d/%m/%Y")  ->  pl.Expr (pl.Date)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import polars as pl

from normalise import admin, dates, identifiers, phone, text

Normaliser = Callable[..., pl.Expr]  # (expr: pl.Expr, **options) -> pl.Expr
OptionCheck = Callable[[Any], str | None]  # returns what is wrong with the value, or None


def _is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _is_formats(value: Any) -> str | None:
    if isinstance(value, str):
        value = [value]
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(f, str) and "%" in f for f in value)
    ):
        return None
    return "must be a strftime format or a non-empty list of them (e.g. '%d/%m/%Y')"


def _one_of(*allowed: str) -> OptionCheck:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(map(repr, allowed))}"

    return check


def _is_str_mapping(value: Any) -> str | None:
    if isinstance(value, Mapping) and all(
        isinstance(v, str | None) for v in value.values()
    ):
        return None
    return "must be a mapping of raw values to text values"


def _is_optional_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be text or null"


@dataclass(frozen=True)
class _Spec:
    function: Normaliser
    options: Mapping[str, OptionCheck] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


_DATE_OPTIONS: Mapping[str, OptionCheck] = {"format": _is_formats, "excel_serial": _is_bool}
_CODE_OPTIONS: Mapping[str, OptionCheck] = {
    "code_list": _one_of(*admin.CODE_LISTS),
    "unknown": _one_of("keep", "null"),
}
_FROM_OPTION: Mapping[str, OptionCheck] = {"from": _one_of(*admin.CODE_LISTS)}

_SPECS: dict[str, _Spec] = {
    "text": _Spec(text.text),
    "name": _Spec(text.name),
    "name_key": _Spec(text.name_key),
    "name_key_accented": _Spec(text.name_key_accented),
    "lower": _Spec(text.lower),
    "upper": _Spec(text.upper),
    "map": _Spec(
        text.map_values,
        {"values": _is_str_mapping, "default": _is_optional_str},
        required=frozenset({"values"}),
    ),
    "sex": _Spec(text.sex, {"values": _is_str_mapping}),
    "personal_id": _Spec(identifiers.personal_id),
    "digits": _Spec(identifiers.digits),
    "enterprise_code": _Spec(identifiers.enterprise_code),
    "integer": _Spec(identifiers.integer),
    "decimal": _Spec(identifiers.decimal),
    "date": _Spec(dates.date, _DATE_OPTIONS),
    "date_precision": _Spec(dates.date_precision, _DATE_OPTIONS),
    "month": _Spec(dates.month, {"format": _is_formats}),
    "datetime": _Spec(dates.datetime, {"format": _is_formats}),
    "phone": _Spec(phone.phone),
    "phone_valid": _Spec(phone.phone_valid),
    "province_code": _Spec(admin.province_code, _CODE_OPTIONS),
    "province_2025": _Spec(admin.province_2025, _FROM_OPTION),
    "ward_code": _Spec(admin.ward_code, _CODE_OPTIONS),
    "ward_2025": _Spec(admin.ward_2025, _FROM_OPTION),
    "ward_2025_candidates": _Spec(admin.ward_2025_candidates),
    "ward_needs_review": _Spec(admin.ward_needs_review),
}

# Normalisers whose result follows from another's on the same raw value: (that other normaliser,
# a function of the raw value, its output and the options both share). Where a table maps one
# source column through both with the same options, pipeline.mapping.canonical_frame computes the
# costly one once.
DERIVED: Mapping[str, tuple[str, Callable[..., pl.Expr]]] = MappingProxyType(
    {"phone_valid": ("phone", phone.phone_valid_from), "date_precision": ("date", dates.date_precision_from)}
)

NORMALISERS: Mapping[str, Normaliser] = MappingProxyType(
    {name: spec.function for name, spec in _SPECS.items()}
)


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(sorted(_SPECS))
        raise ValueError(f"unknown normaliser {name!r}; known normalisers: {known}") from None


def normaliser(name: str) -> Normaliser:
    """The normaliser called `name`; ValueError listing the known names when there is none."""
    return _spec(name).function


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise ValueError naming the normaliser and the unknown, missing or ill-typed option."""
    spec = _spec(name)
    for option, value in options.items():
        if option not in spec.options:
            known = ", ".join(sorted(spec.options)) or "none"
            raise ValueError(
                f"normaliser {name!r}: unknown option {option!r}; known options: {known}"
            )
        problem = spec.options[option](value)
        if problem is not None:
            raise ValueError(f"normaliser {name!r}: option {option!r} {problem} (got {value!r})")
    missing = sorted(spec.required - set(options))
    if missing:
        raise ValueError(f"normaliser {name!r}: missing required option {missing[0]!r}")
