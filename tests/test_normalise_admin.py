"""Province and ward codes in the legacy and 2025 lists; legacy → 2025 mapping; split wards."""

import polars as pl
import pytest
from vietnam_provinces import Province, Ward
from vietnam_provinces import legacy as legacy_units

from normalise import normaliser
from normalise.admin import PROVINCE_MERGES_2025, admin_tables, ward_mapping_coverage


def run(name: str, raw: list, /, **options) -> list:
    frame = pl.DataFrame({"raw": pl.Series(raw, dtype=pl.String)})
    return frame.select(normaliser(name)(pl.col("raw"), **options)).to_series().to_list()


def test_code_lists_sizes_match_the_rule_book():
    tables = admin_tables()
    assert len(tables.legacy_provinces) == 63
    assert len(tables.provinces_2025) == 34
    assert len(tables.legacy_wards) == 10_051
    assert len(tables.wards_2025) == 3_321


def test_province_code_pads_and_stays_in_its_list():
    raw = ["1", "01", " 079 ", "80", "72", "99", "Hà Nội", "", None]
    assert run("province_code", raw) == ["01", "01", "79", "80", "72", "99", None, None, None]
    assert run("province_code", ["72", "99"], code_list="2025", unknown="null") == [None, None]
    assert run("province_code", ["72", "80"], code_list="legacy", unknown="null") == ["72", "80"]


def test_code_reuse_trap_long_an_and_tay_ninh():
    # legacy 80 = Long An, legacy 72 = Tây Ninh; in 2025 both are 80 = Tây Ninh.
    assert legacy_units.Province.from_code(80).name.endswith("Long An")
    assert legacy_units.Province.from_code(72).name.endswith("Tây Ninh")
    assert Province.from_code(80).name.endswith("Tây Ninh")
    assert run("province_2025", ["80", "72"]) == ["80", "80"]
    # 72 is not a 2025 code at all: read as a 2025 code it maps to nothing.
    assert run("province_2025", ["72", "80"], **{"from": "2025"}) == [None, "80"]


@pytest.mark.parametrize(("old", "new"), sorted(PROVINCE_MERGES_2025.items()))
def test_province_2025_follows_the_rule_book(old, new):
    assert run("province_2025", [old]) == [new]


def test_province_2025_agrees_with_vietnam_provinces_except_its_known_flaw():
    from vietnam_provinces._province_conversion_2025 import OLD_TO_NEW

    legacy_codes = list(admin_tables().legacy_provinces)
    ours = dict(zip(legacy_codes, run("province_2025", legacy_codes), strict=True))
    for old, entry in OLD_TO_NEW.items():
        package = {f"{p.code:02d}" for p in entry.new_provinces}
        if old == 82:  # package lists Tiền Giang under 80 and 82 (one stray ward); rule book: 82
            assert ours["82"] == "82" and "82" in package
            continue
        assert package == {ours[f"{old:02d}"]}


def test_unknown_province_is_null_in_2025():
    assert run("province_2025", ["99", "00", "x", None]) == [None, None, None, None]


def test_ward_code_pads():
    assert run("ward_code", ["4", "00004", "26734", "4.0", "abc", None]) == [
        "00004", "00004", "26734", "00004", None, None,
    ]  # fmt: skip
    assert run("ward_code", ["99999"], unknown="null") == [None]


def test_unique_ward_mapping():
    # legacy 00013 (Phường Quán Thánh, Ba Đình) went wholly into 2025 ward 00004 (Phường Ba Đình)
    assert legacy_units.Ward.from_code(13).name == "Phường Quán Thánh"
    assert Ward.from_code(4).name == "Phường Ba Đình"
    assert run("ward_2025", ["13"]) == ["00004"]
    assert run("ward_2025_candidates", ["00013"]) == [["00004"]]
    assert run("ward_needs_review", ["00013"]) == [False]


def test_split_ward_gives_candidates_and_review_flag_never_a_guess():
    expected = sorted(f"{w.ward.code.value:05d}" for w in Ward.search_from_legacy(code=16))
    assert len(expected) > 1
    assert run("ward_2025", ["00016"]) == [None]
    assert run("ward_2025_candidates", ["00016"]) == [expected]
    assert run("ward_needs_review", ["00016"]) == [True]


def test_unknown_and_missing_wards():
    # 01651 is in the legacy list but absent from the package's conversion table
    assert "01651" in admin_tables().legacy_wards
    assert run("ward_2025", ["01651", "99999", None]) == [None, None, None]
    assert run("ward_2025_candidates", ["01651", "99999", None]) == [None, None, None]
    assert run("ward_needs_review", ["01651", "x", None]) == [False, None, None]


def test_ward_2025_from_2025_list_is_identity_for_known_codes():
    assert run("ward_2025", ["4", "13"], **{"from": "2025"}) == ["00004", None]


def test_ward_mapping_coverage_matches_package_and_rule_book():
    coverage = ward_mapping_coverage()
    assert coverage["legacy_wards"] == 10_051
    assert coverage["split"] == 441
    assert coverage["legacy_wards_missing"] == coverage["legacy_wards"] - coverage["mapped_legacy_wards"]
    assert coverage["mapped_legacy_wards"] >= 10_000


def test_mapping_agrees_with_search_from_legacy_on_a_sample():
    codes = admin_tables().legacy_wards[::997]
    got = run("ward_2025_candidates", list(codes))
    for code, candidates in zip(codes, got, strict=True):
        expected = sorted({f"{w.ward.code.value:05d}" for w in Ward.search_from_legacy(code=int(code))})
        assert (candidates or []) == expected
