"""Linking a ministry's records to the population register's personal IDs.

Only exact evidence links: the personal ID itself, the register's own CMND column (never
arithmetic), or an exact match on the four fields that created the ID (name key, date of birth,
sex, birth province) when exactly one citizen has them. Anything ambiguous stays unlinked.

The birth province is matched in the code list the record has: the legacy code where the record
holds one, else the 2025 code (a source written after 1 July 2025 has only those; 2025 → legacy
is not one-to-one). The register carries both, or its 2025 code is derived from its legacy one.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from catalogue import Entity
from catalogue.models import PersonKeys
from pipeline.rules import CMND_AMBIGUOUS, CMND_UNRESOLVED

PERSON_ID, LINK_METHOD, LINK_ERRORS = "_person_id", "_link_method", "_link_errors"
AMBIGUOUS = "ambiguous"  # the link method of a record several citizens fit
UNVERIFIED = "unverified"  # an ID taken as written: no register was there to confirm it
# The link methods that tie a record to a register record: the register's own rows, and records
# matched by personal ID, resolved CMND or the four fields. An `unverified` ID is not a link.
LINKED_METHODS = ("register", "personal_id", "cmnd", "four_fields")
_FOUR = ("name_key", "date_of_birth", "sex", "birth_province")
_FOUR_2025 = ("name_key", "date_of_birth", "sex", "birth_province_2025")
_TWELVE_DIGITS, _NINE_DIGITS = r"^\d{12}$", r"^\d{9}$"


@dataclass(frozen=True)
class PeopleRegister:
    """What the register knows, narrowed to the columns linking needs."""

    ids: pl.DataFrame  # personal_id
    # cmnd, personal_id, ambiguous: a CMND held by several citizens has no personal_id and is ambiguous
    cmnd: pl.DataFrame
    # name_key, date_of_birth, sex, birth_province, personal_id, ambiguous: likewise for the four fields
    four_fields: pl.DataFrame
    # the same with birth_province_2025: the four fields of a record holding only 2025 codes
    four_fields_2025: pl.DataFrame | None = None

    @classmethod
    def from_citizens(cls, citizens: pl.DataFrame, entity: Entity) -> PeopleRegister:
        keys = entity.person
        assert keys is not None, f"entity {entity.name} declares no person keys"
        people = citizens.filter(pl.col(keys.personal_id).str.contains(_TWELVE_DIGITS))
        ids = people.select(pl.col(keys.personal_id).alias("personal_id")).unique()
        cmnd = (
            _unique_holders(
                people.select(pl.col("cmnd"), pl.col(keys.personal_id).alias("personal_id")), ["cmnd"]
            )
            if "cmnd" in people.columns
            else pl.DataFrame(schema={"cmnd": pl.String, "personal_id": pl.String, "ambiguous": pl.Boolean})
        )
        four = _four_field_holders(people, keys.personal_id, _four_columns(keys), _FOUR)
        four_2025 = _four_field_holders(
            people, keys.personal_id, _four_columns_2025(keys, set(people.columns)), _FOUR_2025
        )
        return cls(ids=ids, cmnd=cmnd, four_fields=four, four_fields_2025=four_2025)


def _four_columns(keys: PersonKeys) -> dict[str, pl.Expr] | None:
    """The register's four fields with a legacy birth province, if it declares them."""
    columns = {name: getattr(keys, name) for name in _FOUR}
    return {n: pl.col(c) for n, c in columns.items()} if all(columns.values()) else None


def _four_columns_2025(keys: PersonKeys, available: set[str]) -> dict[str, pl.Expr] | None:
    """The register's four fields with a 2025 birth province: its own column, or derived from the
    legacy code (every legacy province maps to exactly one 2025 province)."""
    from normalise.admin import province_2025

    if keys.birth_province_2025 and keys.birth_province_2025 in available:
        province = pl.col(keys.birth_province_2025)
    elif keys.birth_province:
        province = province_2025(pl.col(keys.birth_province), **{"from": "legacy"})
    else:
        return None
    columns = {name: getattr(keys, name) for name in _FOUR_2025[:3]}
    if not all(columns.values()):
        return None
    return {**{n: pl.col(c) for n, c in columns.items()}, "birth_province_2025": province}


def _four_field_holders(
    people: pl.DataFrame, personal_id: str, columns: dict[str, pl.Expr] | None, names: tuple[str, ...]
) -> pl.DataFrame:
    if columns is None:
        return pl.DataFrame(
            schema={**dict.fromkeys(names, pl.String), "personal_id": pl.String, "ambiguous": pl.Boolean}
        )
    return _unique_holders(
        people.select(*(e.alias(n) for n, e in columns.items()), pl.col(personal_id).alias("personal_id")),
        list(names),
    )


def _unique_holders(pairs: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """One row per value of `by`: its holder's ID when exactly one citizen holds it, else ambiguous."""
    return (
        pairs.drop_nulls()
        .group_by(by)
        .agg(pl.col("personal_id").first(), pl.len().alias("_holders"))
        .select(
            *by,
            pl.when(pl.col("_holders") == 1).then(pl.col("personal_id")).alias("personal_id"),
            (pl.col("_holders") > 1).alias("ambiguous"),
        )
    )


def link_people(frame: pl.LazyFrame, entity: Entity, register: PeopleRegister | None) -> pl.LazyFrame:
    """Add `_person_id`, `_link_method` and `_link_errors`; a resolved CMND replaces the ID column.

    CMNDs in the entity's other personal-ID columns (parents, spouses) are resolved the same way.
    """
    frame, other_errors = resolve_cmnds(frame, entity.personal_id_columns, register)
    return _link_subject(frame, entity, register).with_columns(
        pl.concat_list(LINK_ERRORS, *other_errors).alias(LINK_ERRORS)
    )


def resolve_cmnds(
    frame: pl.LazyFrame, columns: list[str], register: PeopleRegister | None
) -> tuple[pl.LazyFrame, list[pl.Expr]]:
    """Replace 9-digit CMNDs in `columns` by the IDs the register holds for them; the expressions
    returned give `cmnd_unresolved` for the ones it does not know."""
    lookup = (
        register.cmnd.select("cmnd", "personal_id")
        if register is not None
        else pl.DataFrame(schema={"cmnd": pl.String, "personal_id": pl.String})
    )
    errors = []
    for column in columns:
        resolved = f"_cmnd_of_{column}"
        frame = frame.join(
            lookup.lazy().rename({"personal_id": resolved}),
            left_on=column,
            right_on="cmnd",
            how="left",
            maintain_order="left",
        )
        nine = pl.col(column).str.contains(_NINE_DIGITS).fill_null(False)
        errors.append(
            pl.when(nine & pl.col(resolved).is_null())
            .then(pl.lit([CMND_UNRESOLVED]))
            .otherwise(pl.lit([], pl.List(pl.String)))
        )
        frame = frame.with_columns(
            pl.when(nine & pl.col(resolved).is_not_null())
            .then(pl.col(resolved))
            .otherwise(pl.col(column))
            .alias(column)
        )
    # The error expressions read the helper columns, so they are evaluated before those are dropped.
    error_columns = [e.alias(f"_cmnd_error_{i}") for i, e in enumerate(errors)]
    frame = frame.with_columns(error_columns).drop([f"_cmnd_of_{c}" for c in columns])
    return frame, [pl.col(f"_cmnd_error_{i}") for i in range(len(columns))]


def _link_subject(frame: pl.LazyFrame, entity: Entity, register: PeopleRegister | None) -> pl.LazyFrame:
    keys = entity.person
    no_errors = pl.lit([], pl.List(pl.String)).alias(LINK_ERRORS)
    if keys is None:
        return frame.with_columns(
            pl.lit(None, pl.String).alias(PERSON_ID), pl.lit(None, pl.String).alias(LINK_METHOD), no_errors
        )
    pid = pl.col(keys.personal_id)
    twelve, nine = (
        pid.str.contains(_TWELVE_DIGITS).fill_null(False),
        pid.str.contains(_NINE_DIGITS).fill_null(False),
    )
    if entity.population_register or register is None:
        # The register is its own reference; without one, an ID is taken as written, unverified.
        method = "register" if entity.population_register else UNVERIFIED
        return frame.with_columns(
            pl.when(twelve).then(pid).alias(PERSON_ID),
            pl.when(twelve).then(pl.lit(method)).otherwise(pl.lit("unlinked")).alias(LINK_METHOD),
            pl.when(nine & pl.lit(not entity.population_register))
            .then(pl.lit([CMND_UNRESOLVED]))
            .otherwise(pl.lit([], pl.List(pl.String)))
            .alias(LINK_ERRORS),
        )
    linked = frame.join(
        register.ids.lazy().with_columns(pl.lit(True).alias("_known")),
        left_on=keys.personal_id,
        right_on="personal_id",
        how="left",
        maintain_order="left",
    ).join(
        register.cmnd.lazy().rename({"personal_id": "_via_cmnd", "ambiguous": "_cmnd_ambiguous"}),
        left_on=keys.personal_id,
        right_on="cmnd",
        how="left",
        maintain_order="left",
    )
    linked = _join_four_fields(linked, keys, register)
    known = pl.col("_known").fill_null(False)
    cmnd_ambiguous = pl.col("_cmnd_ambiguous").fill_null(False)
    return linked.with_columns(
        pl.when(twelve & known)
        .then(pid)
        .when(nine)
        .then(pl.col("_via_cmnd"))
        # Only a record with no ID at all is matched on the four fields: an unknown ID may be another person's.
        .when(pid.is_null())
        .then(pl.col("_via_four"))
        .alias(PERSON_ID),
        pl.when(twelve & known)
        .then(pl.lit("personal_id"))
        .when(nine & pl.col("_via_cmnd").is_not_null())
        .then(pl.lit("cmnd"))
        .when(pid.is_null() & pl.col("_via_four").is_not_null())
        .then(pl.lit("four_fields"))
        # Several citizens fit: never a guess. The record stays unlinked, counted as ambiguous.
        .when((nine & cmnd_ambiguous) | (pid.is_null() & pl.col("_four_ambiguous").fill_null(False)))
        .then(pl.lit(AMBIGUOUS))
        .otherwise(pl.lit("unlinked"))
        .alias(LINK_METHOD),
        pl.when(nine & cmnd_ambiguous)
        .then(pl.lit([CMND_AMBIGUOUS]))
        .when(nine & pl.col("_via_cmnd").is_null())
        .then(pl.lit([CMND_UNRESOLVED]))
        .otherwise(pl.lit([], pl.List(pl.String)))
        .alias(LINK_ERRORS),
        # A CMND the register resolves is replaced by the ID it stands for; the original stays in bronze.
        pl.when(nine & pl.col("_via_cmnd").is_not_null())
        .then(pl.col("_via_cmnd"))
        .otherwise(pid)
        .alias(keys.personal_id),
    ).drop("_known", "_via_cmnd", "_via_four", "_cmnd_ambiguous", "_four_ambiguous")


def _join_four_fields(frame: pl.LazyFrame, keys: PersonKeys, register: PeopleRegister) -> pl.LazyFrame:
    """`_via_four` and `_four_ambiguous`: the register's match on the four fields, on the legacy
    birth province where the record has one, else on its 2025 province."""
    legacy = [getattr(keys, name) for name in _FOUR]
    current = [*(getattr(keys, name) for name in _FOUR_2025[:3]), keys.birth_province_2025]
    matches: list[tuple[str, str, pl.Expr]] = []  # (found, ambiguous, the record has that code)
    for suffix, columns, table, names in (
        ("_legacy", legacy, register.four_fields, _FOUR),
        ("_2025", current, register.four_fields_2025, _FOUR_2025),
    ):
        if not all(columns) or table is None:
            continue
        found, ambiguous = f"_via_four{suffix}", f"_four_ambiguous{suffix}"
        frame = frame.join(
            table.lazy().rename({"personal_id": found, "ambiguous": ambiguous}),
            left_on=columns, right_on=list(names), how="left", maintain_order="left",
        )
        matches.append((found, ambiguous, pl.col(columns[-1]).is_not_null()))
    via, unclear = pl.lit(None, pl.String), pl.lit(None, pl.Boolean)
    for found, ambiguous, has_code in reversed(matches):  # the legacy code, when present, decides
        via = pl.when(has_code).then(pl.col(found)).otherwise(via)
        unclear = pl.when(has_code).then(pl.col(ambiguous)).otherwise(unclear)
    helpers = [name for found, ambiguous, _ in matches for name in (found, ambiguous)]
    return frame.with_columns(via.alias("_via_four"), unclear.alias("_four_ambiguous")).drop(helpers)
