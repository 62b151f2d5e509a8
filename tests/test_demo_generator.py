"""The demo generator: layout, determinism, dirt rates and the ground truth (small N)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
import unicodedata
from pathlib import Path

import phonenumbers
import polars as pl
import pytest

from demo.dirt import DEFECT_OUTCOME, DEFECT_RATES
from demo.generator import generate
from demo.vocab import admin_codes

CITIZENS = 2_000
RUN_DATE = dt.date(2026, 11, 1)

# The documented columns (docs/demo-sources.md), per source table.
SQL_TABLES: dict[str, list[str]] = {
    "population.cong_dan": [
        "so_dinh_danh",
        "so_cmnd",
        "ho_ten",
        "ngay_sinh",
        "gioi_tinh",
        "ma_tinh_khai_sinh",
        "ma_xa_thuong_tru",
        "so_dien_thoai",
        "tinh_trang",
        "ngay_mat",
        "ngay_cap_nhat",
    ],
    "social_insurance.nguoi_tham_gia": [
        "ma_so_bhxh",
        "so_dinh_danh",
        "ho_ten",
        "ngay_sinh",
        "gioi_tinh",
        "so_dien_thoai",
        "ma_tinh",
        "ngay_cap_nhat",
    ],
    "social_insurance.qua_trinh_dong": [
        "ma_qua_trinh",
        "ma_so_bhxh",
        "tu_thang",
        "den_thang",
        "muc_luong",
        "ma_so_thue_don_vi",
        "ngay_cap_nhat",
    ],
    "business.doanh_nghiep": [
        "ma_so_doanh_nghiep",
        "ten_doanh_nghiep",
        "ngay_thanh_lap",
        "ma_tinh",
        "trang_thai",
        "ngay_cap_nhat",
    ],
    "business.nguoi_dai_dien": [
        "ma_dai_dien",
        "ma_so_doanh_nghiep",
        "so_dinh_danh",
        "ho_ten",
        "ngay_sinh",
        "gioi_tinh",
        "chuc_danh",
        "ngay_cap_nhat",
    ],
    "welfare.doi_tuong": [
        "ma_doi_tuong",
        "so_dinh_danh",
        "ho_ten",
        "ngay_sinh",
        "gioi_tinh",
        "loai_tro_cap",
        "ma_xa",
        "so_dien_thoai",
        "ngay_cap_nhat",
    ],
    "welfare.chi_tra": [
        "ma_chi_tra",
        "ma_doi_tuong",
        "ky_chi_tra",
        "so_tien",
        "ngay_chi_tra",
        "ngay_cap_nhat",
    ],
}
CSV_TABLES: dict[str, list[str]] = {
    "civil_status.khai_sinh": [
        "so_dang_ky",
        "ngay_dang_ky",
        "so_dinh_danh",
        "ho_ten",
        "ngay_sinh",
        "gioi_tinh",
        "ma_tinh_dang_ky",
        "so_dinh_danh_cha",
        "so_dinh_danh_me",
    ],
    "civil_status.ket_hon": [
        "so_dang_ky",
        "ngay_dang_ky",
        "so_dinh_danh_chong",
        "ho_ten_chong",
        "so_dinh_danh_vo",
        "ho_ten_vo",
        "ma_tinh_dang_ky",
    ],
    "civil_status.khai_tu": [
        "so_dang_ky",
        "ngay_dang_ky",
        "so_dinh_danh",
        "ho_ten",
        "ngay_mat",
        "ma_tinh_dang_ky",
    ],
}
KEYS = {
    "population.cong_dan": "so_dinh_danh",
    "social_insurance.nguoi_tham_gia": "ma_so_bhxh",
    "social_insurance.qua_trinh_dong": "ma_qua_trinh",
    "business.doanh_nghiep": "ma_so_doanh_nghiep",
    "business.nguoi_dai_dien": "ma_dai_dien",
    "welfare.doi_tuong": "ma_doi_tuong",
    "welfare.chi_tra": "ma_chi_tra",
    **{name: "so_dang_ky" for name in CSV_TABLES},
}
INTEGER_COLUMNS = {"ma_qua_trinh", "ma_dai_dien"}
# The personal-ID column of the tables that are about one person.
ID_COLUMN = {
    "population.cong_dan": "so_dinh_danh",
    "social_insurance.nguoi_tham_gia": "so_dinh_danh",
    "business.nguoi_dai_dien": "so_dinh_danh",
    "welfare.doi_tuong": "so_dinh_danh",
    "civil_status.khai_sinh": "so_dinh_danh",
    "civil_status.khai_tu": "so_dinh_danh",
    "civil_status.ket_hon": "so_dinh_danh_chong",
}
PERSON_DEFECTS = {
    "id_malformed",
    "id_birth_mismatch",
    "id_zeros_stripped",
    "name_nfd",
    "name_upper",
    "name_tone_style",
    "name_d_bar",
    "name_spaces",
    "name_missing",
    "date_impossible",
    "date_future",
    "duplicate_exact",
    "duplicate_conflict",
}
PHONE_DEFECTS = {"phone_11_digit", "phone_plus84", "phone_separators", "phone_invalid"}
CMND_DEFECTS = {"cmnd_instead_of_id", "cmnd_unknown"}
# Which defects each large-enough table must carry at its documented rate.
EXPECTED_DEFECTS: dict[str, set[str]] = {
    "population.cong_dan": PERSON_DEFECTS
    | PHONE_DEFECTS
    | {"date_partial", "death_before_birth", "admin_unknown"},
    "social_insurance.nguoi_tham_gia": PERSON_DEFECTS | PHONE_DEFECTS | CMND_DEFECTS | {"admin_unknown"},
    "social_insurance.qua_trinh_dong": {"tax_code_bad_check", "duplicate_exact", "duplicate_conflict"},
    "welfare.doi_tuong": PERSON_DEFECTS | PHONE_DEFECTS | CMND_DEFECTS | {"date_partial", "admin_unknown"},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(
        tmp_path_factory.mktemp("demo") / "demo", citizens=CITIZENS, seed=6, run_date=RUN_DATE
    ).root


@pytest.fixture(scope="module")
def people(demo: Path) -> pl.DataFrame:
    return pl.read_parquet(demo / "truth" / "people.parquet")


def read_source(root: Path, qualified: str) -> pl.DataFrame:
    """A source table as written, with its watermark in `_watermark`."""
    source, table = qualified.split(".")
    if qualified in CSV_TABLES:
        frames = [
            pl.read_csv(path, infer_schema=False).with_columns(_watermark=pl.lit(path.stem))
            for path in sorted((root / "civil_status" / table).glob("*.csv"))
        ]
        return pl.concat([f for f in frames if f.height], how="vertical")
    with sqlite3.connect(root / f"{source}.sqlite") as connection:
        cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    schema = {n: (pl.Int64 if n in INTEGER_COLUMNS else pl.String) for n in names}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(_watermark=pl.col("ngay_cap_nhat"))


def truth(root: Path, qualified: str) -> pl.DataFrame:
    return pl.read_parquet(root / "truth" / f"{qualified}.parquet")


def with_truth(root: Path, qualified: str) -> pl.DataFrame:
    """Source rows side by side with their truth rows (both in generation order)."""
    source = read_source(root, qualified)
    facts = truth(root, qualified)
    key = pl.col(KEYS[qualified]).cast(pl.String)
    order = [pl.col("_k"), pl.col("_w"), pl.int_range(pl.len()).over("_k", "_w")]
    left = source.with_columns(_k=key, _w=pl.col("_watermark"))
    right = facts.rename(lambda c: f"t_{c}").with_columns(_k="t_key", _w="t_watermark")
    return left.with_columns(_n=order[2]).join(
        right.with_columns(_n=order[2]), on=["_k", "_w", "_n"], how="full", nulls_equal=True
    )


def fingerprint(root: Path) -> dict[str, str]:
    prints: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix == ".sqlite":
            with sqlite3.connect(path) as connection:
                dump = "\n".join(connection.iterdump())
            prints[path.name] = hashlib.sha256(dump.encode()).hexdigest()
        elif path.suffix == ".csv":
            prints[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            prints[path.name] = hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest()
    return prints


# ------------------------------------------------------------------ layout


def test_files_and_documented_columns(demo: Path) -> None:
    for qualified, columns in SQL_TABLES.items():
        source, table = qualified.split(".")
        with sqlite3.connect(demo / f"{source}.sqlite") as connection:
            info = connection.execute(f"PRAGMA table_info({table})").fetchall()
        assert [row[1] for row in info] == columns
        for _, name, kind, *_ in info:
            assert kind == ("INTEGER" if name in INTEGER_COLUMNS else "TEXT"), (qualified, name)
        assert (demo / "truth" / f"{qualified}.parquet").exists()
    for qualified, columns in CSV_TABLES.items():
        files = sorted((demo / "civil_status" / qualified.split(".")[1]).glob("*.csv"))
        assert len(files) == 24 and files[0].stem == "2024-11"
        assert files[-1].stem == "2026-10"
        for path in files:
            assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(columns)
    truth_columns = {"key", "watermark", "expected", "defects", "person_id"}
    for path in (demo / "truth").glob("*.*.parquet"):
        assert truth_columns <= set(pl.read_parquet_schema(path))
    assert list(pl.read_parquet_schema(demo / "truth" / "people.parquet")) == [
        "person_id",
        "cmnd",
        "full_name",
        "date_of_birth",
        "sex",
        "birth_province_legacy",
        "ward_legacy",
        "ward_2025",
        "phone_e164",
        "deceased",
        "date_of_death",
    ]


def test_sizes_follow_the_shares(demo: Path, people: pl.DataFrame) -> None:
    n = people.height
    base = {
        q: truth(demo, q).filter(pl.col("expected").is_in(["land", "quarantine"])).height
        for q in [*SQL_TABLES, *CSV_TABLES]
    }
    assert n == CITIZENS
    assert base["population.cong_dan"] == n
    assert base["social_insurance.nguoi_tham_gia"] == round(0.4 * n)
    assert 1.6 < base["social_insurance.qua_trinh_dong"] / base["social_insurance.nguoi_tham_gia"] < 2.4
    assert base["business.doanh_nghiep"] == base["business.nguoi_dai_dien"] == round(0.05 * n)
    assert base["civil_status.khai_sinh"] == round(0.01 * n)
    assert base["civil_status.khai_tu"] == round(0.008 * n)
    assert base["civil_status.ket_hon"] == round(0.005 * n)
    assert base["welfare.doi_tuong"] == round(0.08 * n)
    assert 2.5 < base["welfare.chi_tra"] / base["welfare.doi_tuong"] < 3.5


# ------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_other_seed_other_data(demo: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", citizens=CITIZENS, seed=6, run_date=RUN_DATE).root
    assert fingerprint(again) == fingerprint(demo)
    other = generate(tmp_path / "other", citizens=CITIZENS, seed=7, run_date=RUN_DATE).root
    assert fingerprint(other)["population.sqlite"] != fingerprint(demo)["population.sqlite"]


def test_regenerating_replaces_and_foreign_dirs_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    generate(root, citizens=500, seed=1, run_date=RUN_DATE)
    (root / "stale.txt").write_text("left over")
    result = generate(root, citizens=400, seed=1, run_date=RUN_DATE)
    assert not (root / "stale.txt").exists() and result.people == 400
    assert pl.read_parquet(root / "truth" / "people.parquet").height == 400
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError):
        generate(foreign, citizens=200, run_date=RUN_DATE)
    assert (foreign / "thesis.tex").read_text() == "precious"


# ------------------------------------------------------------------ truth matches the sources


@pytest.mark.parametrize("qualified", [*SQL_TABLES, *CSV_TABLES])
def test_every_truth_row_matches_a_source_row(demo: Path, qualified: str) -> None:
    joined = with_truth(demo, qualified)
    assert joined["t_key"].null_count() == 0, "a source row without truth"
    assert joined["_watermark"].null_count() == 0, "a truth row without source row"
    counts = generate_counts(demo)
    assert counts[qualified] == joined.height


def generate_counts(root: Path) -> dict[str, int]:
    return {q: truth(root, q).height for q in [*SQL_TABLES, *CSV_TABLES]}


def test_truth_people_are_generated_people(demo: Path, people: pl.DataFrame) -> None:
    ids = set(people["person_id"])
    for qualified in [*SQL_TABLES, *CSV_TABLES]:
        about = truth(demo, qualified)["person_id"].drop_nulls()
        assert set(about) <= ids
    assert people["person_id"].n_unique() == people.height


# ------------------------------------------------------------------ dirt rates and outcomes


@pytest.mark.parametrize("qualified", list(EXPECTED_DEFECTS))
def test_defect_rates_match_the_table(demo: Path, qualified: str) -> None:
    facts = truth(demo, qualified)
    generated = facts.filter(pl.col("expected").is_in(["land", "quarantine"]))
    n = generated.height
    counted = generated.explode("defects")["defects"].value_counts()
    observed = dict(zip(counted["defects"], counted["count"], strict=True))
    observed["duplicate_exact"] = facts.filter(pl.col("expected") == "deduplicated").height
    observed["duplicate_conflict"] = facts.filter(pl.col("expected") == "superseded").height
    for defect in EXPECTED_DEFECTS[qualified]:
        expected = DEFECT_RATES[defect] * n
        assert abs(observed.get(defect, 0) - expected) <= max(2, 0.25 * expected), (defect, observed)
    unexpected = set(observed) - EXPECTED_DEFECTS[qualified] - {"admin_legacy", None}
    assert not unexpected


@pytest.mark.parametrize("qualified", [*SQL_TABLES, *CSV_TABLES])
def test_expected_outcome_follows_the_defects(demo: Path, qualified: str) -> None:
    facts = truth(demo, qualified)
    quarantine = [d for d, outcome in DEFECT_OUTCOME.items() if outcome == "quarantine"]
    derived = (
        pl.when(pl.col("defects").list.contains("duplicate_exact"))
        .then(pl.lit("deduplicated"))
        .when(pl.col("defects").list.contains("duplicate_conflict"))
        .then(pl.lit("superseded"))
        .when(pl.col("defects").list.set_intersection(quarantine).list.len() > 0)
        .then(pl.lit("quarantine"))
        .otherwise(pl.lit("land"))
    )
    mismatched = facts.filter(derived != pl.col("expected"))
    assert mismatched.height == 0, mismatched.head()
    # Duplicates are only ever made of rows that would land.
    extra = facts.filter(pl.col("expected").is_in(["deduplicated", "superseded"]))
    assert extra.filter(pl.col("defects").list.set_intersection(quarantine).list.len() > 0).is_empty()


@pytest.mark.parametrize("qualified", [*SQL_TABLES, *CSV_TABLES])
def test_duplicates_are_copies_or_older_versions(demo: Path, qualified: str) -> None:
    joined = with_truth(demo, qualified)
    columns = SQL_TABLES.get(qualified) or CSV_TABLES[qualified]
    key = KEYS[qualified]
    copies = joined.filter(pl.col("t_expected") == "deduplicated").select(columns)
    originals = joined.filter(pl.col("t_expected") != "deduplicated").select(columns)
    assert copies.join(originals, on=columns, how="anti", nulls_equal=True).is_empty()
    older = joined.filter(pl.col("t_expected") == "superseded")
    current = joined.filter(pl.col("t_expected").is_in(["land"]))
    pairs = older.join(current, on=key, suffix="_now")
    assert pairs.height == older.height
    assert (pairs["_watermark"] < pairs["_watermark_now"]).all()
    other_values = [c for c in columns if c not in (key, "ngay_cap_nhat", "ngay_dang_ky")]
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_now")) for c in other_values])
    assert pairs.filter(differs).height >= 0.8 * pairs.height


# ------------------------------------------------------------------ values


def id_fits(id_column: str) -> pl.Expr:
    """The ID rules: 12 digits, a known province, century/sex and YY agree with the truth."""
    year = pl.col("t_date_of_birth").dt.year()
    g = pl.col(id_column).str.slice(3, 1).cast(pl.Int64, strict=False)
    return (
        pl.col(id_column).str.contains(r"^\d{12}$")
        & pl.col(id_column).str.slice(1, 2).is_in(list(admin_codes().provinces))
        & (g == 2 * ((year - 1900) // 100) + (pl.col("t_sex") == "female").cast(pl.Int64))
        & (pl.col(id_column).str.slice(4, 2) == (year % 100).cast(pl.String).str.zfill(2))
    )


@pytest.mark.parametrize("qualified", list(ID_COLUMN))
def test_clean_ids_satisfy_the_rules_and_dirty_ones_are_as_named(demo: Path, qualified: str) -> None:
    column = ID_COLUMN[qualified]
    rows = with_truth(demo, qualified)
    if "t_date_of_birth" not in rows.columns:  # marriages and deaths carry the person's truth
        rows = rows.with_columns(t_date_of_birth=pl.lit(None, pl.Date), t_sex=pl.lit(None))
    has = lambda *names: pl.col("t_defects").list.set_intersection(list(names)).list.len() > 0  # noqa: E731
    clean = rows.filter(
        ~has("id_malformed", "id_birth_mismatch", "id_zeros_stripped", "cmnd_instead_of_id", "cmnd_unknown")
    )
    assert (clean[column] == clean["t_person_id"]).all()
    if rows["t_date_of_birth"].null_count() < rows.height:
        assert clean.select(id_fits(column).all()).item()
        mismatched = rows.filter(has("id_birth_mismatch"))
        assert mismatched.height or qualified.startswith("civil_status")
        assert not mismatched.select(id_fits(column).any()).item()
    malformed = rows.filter(has("id_malformed"))
    assert not malformed[column].str.contains(r"^\d{9,12}$").any()
    stripped = rows.filter(has("id_zeros_stripped"))
    assert stripped[column].str.len_chars().is_in([10, 11]).all()
    assert (stripped[column].str.zfill(12) == stripped["t_person_id"]).all()


def test_cmnd_defects_use_known_and_unknown_cmnds(demo: Path, people: pl.DataFrame) -> None:
    register = dict(zip(people["cmnd"], people["person_id"], strict=True))
    seen = 0
    for qualified, column in ID_COLUMN.items():
        rows = with_truth(demo, qualified)
        for value, person, defects in rows.select(column, "t_person_id", "t_defects").iter_rows():
            if "cmnd_instead_of_id" in defects:
                assert register[value] == person
                seen += 1
            if "cmnd_unknown" in defects:
                assert re.fullmatch(r"\d{9}", value) and value not in register
    assert seen > 0


def test_population_register_holds_cmnds_for_adults_born_before_2000(people: pl.DataFrame) -> None:
    holders = people.filter(pl.col("cmnd").is_not_null())
    assert holders["cmnd"].str.contains(r"^\d{9}$").all()
    assert (holders["date_of_birth"].dt.year() < 2000).all()
    adults = people.filter(pl.col("date_of_birth").dt.year() < 2000)
    assert 0.3 < holders.height / adults.height < 0.5


def test_people_are_realistic(people: pl.DataFrame) -> None:
    codes = admin_codes()
    names = people["full_name"].to_list()
    assert all(unicodedata.normalize("NFC", n) == n and n == n.title() for n in names)
    assert (
        people["full_name"]
        .str.split(" ")
        .list.first()
        .value_counts()
        .sort("count", descending=True)["full_name"][0]
        == "Nguyễn"
    )
    assert any("Hoà" in n or "Thuỷ" in n for n in names) and any("Hòa" in n or "Thủy" in n for n in names)
    born = people["date_of_birth"]
    assert born.min() >= dt.date(1930, 1, 1) and born.max() < RUN_DATE
    ward_province = dict(
        zip(
            codes.ward_codes,
            [p for p, c in zip(codes.provinces, codes.ward_counts, strict=True) for _ in range(c)],
            strict=True,
        )
    )
    assert all(w in ward_province for w in people["ward_legacy"])
    assert people["ward_2025"].null_count() > 0  # some wards were split in 2025
    dead = people.filter("deceased")
    assert dead.height > 0 and (dead["date_of_death"] > dead["date_of_birth"]).all()
    assert people.filter(~pl.col("deceased"))["date_of_death"].null_count() == people.height - dead.height
    for phone in people["phone_e164"].drop_nulls():
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_register_marks_the_dead(demo: Path) -> None:
    rows = with_truth(demo, "population.cong_dan")
    dead = rows.filter(pl.col("t_date_of_death").is_not_null())
    assert (dead["tinh_trang"] == "da_chet").all()
    clean = dead.filter(~pl.col("t_defects").list.contains("death_before_birth"))
    assert (clean["ngay_mat"] == clean["t_date_of_death"].dt.strftime("%d/%m/%Y")).all()
    early = rows.filter(pl.col("t_defects").list.contains("death_before_birth"))
    assert (early["ngay_mat"].str.to_date("%d/%m/%Y") < early["t_date_of_birth"]).all()
    assert (rows.filter(pl.col("t_date_of_death").is_null())["tinh_trang"] == "con_song").all()


def test_value_defects_do_what_their_name_says(demo: Path) -> None:
    # The older versions (superseded) hold other values on purpose: left out.
    rows = pl.concat(
        [
            with_truth(demo, q)
            .filter(pl.col("t_expected") != "superseded")
            .select("ho_ten", "ngay_sinh", "so_dien_thoai", "t_defects", "t_full_name", "t_phone_e164")
            for q in ("population.cong_dan", "welfare.doi_tuong")
        ]
    )
    has = lambda name: rows.filter(pl.col("t_defects").list.contains(name))  # noqa: E731
    clean = rows.filter(
        pl.col("t_defects")
        .list.set_intersection(
            ["name_nfd", "name_upper", "name_tone_style", "name_d_bar", "name_spaces", "name_missing"]
        )
        .list.len()
        == 0
    )
    assert (clean["ho_ten"] == clean["t_full_name"]).all()
    assert (has("name_upper")["ho_ten"] == has("name_upper")["t_full_name"].str.to_uppercase()).all()
    for value, true in has("name_nfd").select("ho_ten", "t_full_name").iter_rows():
        assert value != true and unicodedata.normalize("NFC", value) == true
    for value, true in has("name_d_bar").select("ho_ten", "t_full_name").iter_rows():
        assert "\u00d0" in value and value.replace("\u00d0", "Đ") == true
    for value, true in has("name_spaces").select("ho_ten", "t_full_name").iter_rows():
        assert value != true and " ".join(value.split()) == true
    for value, true in has("name_tone_style").select("ho_ten", "t_full_name").iter_rows():
        assert value != true and len(value) == len(true)
    assert has("name_missing")["ho_ten"].fill_null("").eq("").all()
    assert not has("date_partial").is_empty()
    assert has("date_partial")["ngay_sinh"].str.contains(r"^00/(00|0[1-9]|1[0-2])/\d{4}$").all()
    assert has("date_impossible")["ngay_sinh"].str.to_date("%d/%m/%Y", strict=False).is_null().all()
    future = has("date_future")["ngay_sinh"].str.to_date("%d/%m/%Y")
    assert (future > RUN_DATE).all()
    for raw, e164, defects in rows.select("so_dien_thoai", "t_phone_e164", "t_defects").iter_rows():
        if raw is None:
            continue
        number = phonenumbers.parse(raw, "VN")
        if "phone_invalid" in defects:
            assert not phonenumbers.is_valid_number(number)
        elif "phone_11_digit" in defects:
            assert re.fullmatch(r"01\d{9}", raw)
        else:
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == e164


def check_digit_ok(code: str) -> bool:
    weights = (31, 29, 23, 19, 17, 13, 7, 5, 3)
    check = 10 - sum(w * int(d) for w, d in zip(weights, code[:9], strict=True)) % 11
    return check < 10 and str(check) == code[9]


def test_enterprise_codes_and_bad_check_digits(demo: Path) -> None:
    for qualified, column in [
        ("business.doanh_nghiep", "ma_so_doanh_nghiep"),
        ("social_insurance.qua_trinh_dong", "ma_so_thue_don_vi"),
    ]:
        rows = with_truth(demo, qualified)
        for code, defects in rows.select(column, "t_defects").iter_rows():
            assert re.fullmatch(r"\d{10}(-\d{3})?", code)
            assert check_digit_ok(code) != ("tax_code_bad_check" in defects), code
    enterprises = read_source(demo, "business.doanh_nghiep")
    assert enterprises["ma_so_doanh_nghiep"].str.contains("-").any()  # some branches


def test_admin_codes_are_legacy_or_unknown(demo: Path) -> None:
    codes = admin_codes()
    provinces = set(codes.provinces)
    for qualified, column, kind in [
        ("population.cong_dan", "ma_tinh_khai_sinh", "province"),
        ("population.cong_dan", "ma_xa_thuong_tru", "ward"),
        ("social_insurance.nguoi_tham_gia", "ma_tinh", "province"),
        ("welfare.doi_tuong", "ma_xa", "ward"),
        ("civil_status.khai_sinh", "ma_tinh_dang_ky", "province"),
    ]:
        rows = with_truth(demo, qualified)
        known = rows[column].is_in(list(provinces if kind == "province" else codes.known_wards))
        unknown = rows["t_defects"].list.contains("admin_unknown")
        if qualified != "population.cong_dan":  # there the defect hits one of two columns
            assert (known != unknown).all()
        else:
            assert (known | unknown).all()
    wards = with_truth(demo, "population.cong_dan")
    legacy = dict(zip(codes.ward_codes, codes.ward_2025, strict=True))
    clean = wards.filter(
        ~pl.col("t_defects").list.contains("admin_unknown") & (pl.col("t_expected") != "superseded")
    )
    for code, new in clean.select("ma_xa_thuong_tru", "t_ward_code_2025").iter_rows():
        assert legacy[code] == new
