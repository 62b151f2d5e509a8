"""The duplicate rule and linkage to the register, on small hand-made frames."""

import datetime as dt

import polars as pl

from catalogue import load_catalogue
from pipeline.duplicates import classify_duplicates
from pipeline.link import LINK_ERRORS, LINK_METHOD, PERSON_ID, PeopleRegister, link_people


def test_exact_copies_latest_version_and_ties():
    frame = pl.LazyFrame(
        {
            "k": ["a", "a", "a", "b", "b", "c", None, None],
            "v": [1, 1, 2, 5, 6, 7, 8, 8],
            "w": [1, 1, 2, 3, 3, 1, 1, 1],
        }
    )
    decided = classify_duplicates(frame, keys=["k"], raw_columns=["k", "v", "w"], watermark="w").collect()
    assert decided["_duplicate"].to_list() == [
        "superseded",  # an older version of a
        "exact",  # an identical copy: counted once, deduplicated
        None,  # the latest version of a wins
        "conflicting_versions",  # b has two versions at the same watermark: no honest winner
        "conflicting_versions",
        None,
        None,  # rows without a key are left to the suite's required-key rule
        "exact",
    ]


def test_linkage_by_id_cmnd_and_four_fields_never_guesses():
    catalogue = load_catalogue()
    citizen = catalogue.entities["citizen"]
    register = PeopleRegister.from_citizens(
        pl.DataFrame(
            {
                "personal_id": ["001090000001", "001090000002", "001090000003", "001090000004"],
                "cmnd": ["111111111", "222222222", "333333333", "333333333"],  # 333… is held twice: ambiguous
                "name_key": ["nguyen van an", "tran thi binh", "le van cuong", "le van cuong"],
                "date_of_birth": [dt.date(1990, 1, 1)] * 4,
                "sex": ["male", "female", "male", "male"],
                "birth_province_legacy": ["01", "01", "01", "01"],
            }
        ),
        citizen,
    )
    births = catalogue.entities["birth_registration"]
    records = pl.LazyFrame(
        {
            "personal_id": [
                "001090000001",
                "111111111",
                "999999999",
                "333333333",
                None,
                None,
                "001099999999",
            ],
            "name_key": ["x", "x", "x", "x", "tran thi binh", "le van cuong", "nguyen van an"],
            "date_of_birth": [dt.date(1990, 1, 1)] * 7,
            "sex": ["male", "male", "male", "male", "female", "male", "male"],
            "province_legacy": ["01"] * 7,
            "father_personal_id": pl.Series([None] * 7, dtype=pl.String),
            "mother_personal_id": pl.Series([None] * 7, dtype=pl.String),
        }
    )
    linked = link_people(records, births, register).collect()
    assert linked[LINK_METHOD].to_list() == [
        "personal_id",
        "cmnd",  # resolved through the register's own CMND column
        "unlinked",  # a CMND the register does not know
        "ambiguous",  # a CMND two citizens share: never guessed, counted
        "four_fields",
        "ambiguous",  # two citizens share the four fields: never guessed, counted
        "unlinked",  # an ID the register does not know is not matched on names
    ]
    assert linked[PERSON_ID].to_list()[:2] == ["001090000001", "001090000001"]
    assert linked["personal_id"][1] == "001090000001"  # the CMND was replaced by the ID it stands for
    assert linked[LINK_ERRORS].to_list()[2] == ["cmnd_unresolved"]
    assert linked[LINK_ERRORS].to_list()[3] == ["cmnd_ambiguous"]  # quarantined with that reason
    assert linked[PERSON_ID].to_list()[3:6] == [None, "001090000002", None]


def test_a_citizen_the_register_deleted_is_nobody_to_link_to(tmp_path):
    """The register's tombstones (issue 16): a deleted citizen's ID and CMND no longer link."""
    from deltalake import write_deltalake

    from assets.ministries import _people_register
    from pipeline.names import DELETED, LoadNames
    from warehouse.storage import StorageSettings
    from warehouse.tables import Warehouse

    catalogue = load_catalogue()
    citizens = catalogue.table("population.citizens")
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path)))
    silver = pl.DataFrame({
        "personal_id": ["001090000001", "001090000002"],
        "cmnd": ["012345671", "012345672"],
        "name_key": ["nguyen van an", "tran thi binh"],
        "date_of_birth": [dt.date(1990, 1, 1), dt.date(1991, 2, 2)],
        "sex": ["male", "female"],
        "birth_province_legacy": ["01", "01"],
        DELETED: [False, True],
    })
    write_deltalake(warehouse.uri(LoadNames.of(citizens).silver), silver.to_arrow())

    register = _people_register(catalogue, warehouse)

    assert register is not None
    assert register.ids["personal_id"].to_list() == ["001090000001"]
    assert register.cmnd["cmnd"].to_list() == ["012345671"]
