"""Linking without an ID on post-2025 province codes: a record that holds only the 2025 birth
province is matched on it (the register carries both lists, or its 2025 code is derived from the
legacy one), and links only when exactly one citizen matches. Hand-made data."""

from __future__ import annotations

import datetime as dt

import polars as pl

from catalogue import Entity, load_catalogue
from catalogue.models import PersonKeys
from pipeline.link import LINK_METHOD, PERSON_ID, PeopleRegister, link_people

BORN = dt.date(1990, 5, 17)


def citizens() -> pl.DataFrame:
    """Three citizens of the same name, date of birth and sex: born in legacy Hải Dương (30) and
    Hải Phòng (31), both 2025 Hải Phòng (31), and in Hà Nội (01)."""
    return pl.DataFrame({
        "personal_id": ["030090000001", "031090000002", "001090000003", "001090000004"],
        "cmnd": [None, None, None, None],
        "name_key": ["pham van duc", "pham van duc", "pham van duc", "vu thi lan"],
        "date_of_birth": [BORN] * 4,
        "sex": ["male", "male", "male", "female"],
        "birth_province_legacy": ["30", "31", "01", "10"],  # 10 Lào Cai → 2025 15
        "birth_province_2025": ["31", "31", "01", "15"],
    }, schema_overrides={"cmnd": pl.String})


def post_reform_entity(*, legacy_too: bool = False) -> Entity:
    """A ministry entity written after 1 July 2025: its records hold the 2025 birth province."""
    return Entity.model_validate({
        "name": "pension", "description": "hand-made", "primary_key": ["pension_no"], "suite": "none",
        "person": {
            "personal_id": "personal_id", "name_key": "name_key", "date_of_birth": "date_of_birth",
            "sex": "sex", "birth_province_2025": "province_2025",
            **({"birth_province": "province_legacy"} if legacy_too else {}),
        },
        "columns": [
            {"name": name, "pii": "none", "type": "date" if name == "date_of_birth" else "string"}
            for name in ("pension_no", "personal_id", "name_key", "date_of_birth", "sex",
                         "province_2025", "province_legacy")
        ],
    })


def records(*rows: tuple[str, str, str | None, str | None]) -> pl.LazyFrame:
    """(name key, sex, 2025 province, legacy province) → records without an ID."""
    return pl.LazyFrame({
        "pension_no": [f"P{i}" for i in range(len(rows))],
        "personal_id": [None] * len(rows),
        "name_key": [r[0] for r in rows],
        "date_of_birth": [BORN] * len(rows),
        "sex": [r[1] for r in rows],
        "province_2025": [r[2] for r in rows],
        "province_legacy": [r[3] for r in rows],
    }, schema_overrides={"personal_id": pl.String, "province_2025": pl.String, "province_legacy": pl.String})


def register(keys_2025: bool = True) -> PeopleRegister:
    citizen = load_catalogue().entities["citizen"]
    if not keys_2025:  # a register declaring only the legacy code: its 2025 code is derived
        person = citizen.person.model_copy(update={"birth_province_2025": None})
        citizen = citizen.model_copy(update={"person": person})
    return PeopleRegister.from_citizens(citizens(), citizen)


def test_the_shipped_register_declares_both_code_lists():
    person = load_catalogue().entities["citizen"].person
    assert isinstance(person, PersonKeys)
    assert (person.birth_province, person.birth_province_2025) == ("birth_province_legacy", "birth_province_2025")


def test_a_record_with_only_a_2025_code_links_when_exactly_one_citizen_matches():
    for people in (register(), register(keys_2025=False)):
        linked = link_people(
            records(
                ("pham van duc", "male", "01", None),  # one citizen born in (2025) Hà Nội
                ("vu thi lan", "female", "15", None),  # legacy Lào Cai 10 is 2025 Lào Cai 15
                ("pham van duc", "male", "31", None),  # two citizens: legacy 30 and 31 are both 2025 31
                ("pham van duc", "male", "79", None),  # nobody
            ),
            post_reform_entity(), people,
        ).collect()
        assert linked[LINK_METHOD].to_list() == ["four_fields", "four_fields", "ambiguous", "unlinked"]
        assert linked[PERSON_ID].to_list() == ["001090000003", "001090000004", None, None]


def test_the_legacy_code_decides_where_the_record_has_one():
    linked = link_people(
        records(
            ("pham van duc", "male", "31", "30"),  # legacy 30 tells the two 2025-31 citizens apart
            ("pham van duc", "male", "31", None),  # only the 2025 code: two fit, never a guess
        ),
        post_reform_entity(legacy_too=True), register(),
    ).collect()
    assert linked[LINK_METHOD].to_list() == ["four_fields", "ambiguous"]
    assert linked[PERSON_ID].to_list() == ["030090000001", None]
