"""Text, name, name keys, sex and value maps: NFC/NFD, Ð, both tone styles, case, whitespace."""

import unicodedata

import polars as pl
import pytest

from normalise import normaliser
from normalise.text import _CLEAN, _cleaned


def run(name: str, raw: list, /, **options) -> list:
    frame = pl.DataFrame({"raw": pl.Series(raw, dtype=pl.String)})
    return frame.select(normaliser(name)(pl.col("raw"), **options)).to_series().to_list()


def nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


def test_text_strips_collapses_nfc_and_eth():
    raw = ["  Nguyễn   Văn\tAn ", nfd("Hoà"), "ÐẶNG", "\u200bLê\ufeff", "   ", "", None]
    assert run("text", raw) == ["Nguyễn Văn An", "Hoà", "ĐẶNG", "Lê", None, None, None]
    assert run("text", ["ÐẶNG"])[0].startswith("\u0110")


def test_control_characters_never_land_in_text_or_names():
    # A NUL byte, an escape sequence, DEL and a C1 control, as hostile or broken exports carry them.
    raw = ["Nguy\x00ễn Văn An", "Lê\x1b[31m Thị", "Trần\x7f\x85 Bình", "\x00\x01"]
    assert run("text", raw) == ["Nguyễn Văn An", "Lê[31m Thị", "Trần Bình", None]
    assert run("name", ["nguy\x00ễn văn an"]) == ["Nguyễn Văn An"]


def test_text_output_is_nfc():
    out = run("text", [nfd("Nguyễn Thị Thuỷ")])[0]
    assert out == unicodedata.normalize("NFC", out)
    assert len(out) < len(nfd("Nguyễn Thị Thuỷ"))


def test_name_title_case_keeps_tone_style():
    raw = ["NGUYỄN THỊ THUỶ", "nguyễn thị thủy", "  trần  văn   hoà ", "ÐỖ ĐỨC", nfd("LÊ KHOẺ")]
    assert run("name", raw) == [
        "Nguyễn Thị Thuỷ",
        "Nguyễn Thị Thủy",
        "Trần Văn Hoà",
        "Đỗ Đức",
        "Lê Khoẻ",
    ]


def test_name_key_identical_for_all_spellings_of_one_name():
    spellings = [
        "NGUYỄN THỊ THUỶ",
        "Nguyễn Thị Thủy",
        nfd("Nguyễn Thị Thuỷ"),
        nfd("NGUYỄN THỊ THỦY"),
        "  nguyễn  thị thuỷ ",
    ]
    assert set(run("name_key", spellings)) == {"nguyen thi thuy"}


def test_name_key_maps_d_stroke_and_eth_to_d():
    assert run("name_key", ["ĐẶNG ĐỨC", "ÐẶNG ÐỨC", "đặng đức"]) == ["dang duc"] * 3


@pytest.mark.parametrize(
    ("new_style", "old_style"),
    [("hoà", "hòa"), ("thuỷ", "thủy"), ("khoẻ", "khỏe"), ("hoạ", "họa"), ("loã", "lõa"),
     ("thuý", "thúy"), ("xoè", "xòe")],
)  # fmt: skip
def test_name_key_accented_folds_tone_style(new_style, old_style):
    assert run("name_key_accented", [new_style, old_style, nfd(new_style.upper())]) == [old_style] * 3


@pytest.mark.parametrize("word", ["quý", "quỳnh", "hoàng", "huỳnh", "thuyền", "ngoài", "giữa", "khuya"])
def test_name_key_accented_leaves_qu_gi_and_closed_syllables(word):
    assert run("name_key_accented", [word]) == [word]


def test_name_key_accented_keeps_other_diacritics():
    assert run("name_key_accented", ["PHẠM VĂN ĐỒNG"]) == ["phạm văn đồng"]


def test_lower_upper():
    assert run("lower", [" ÐẶNG  Văn "]) == ["đặng văn"]
    assert run("upper", [nfd("đặng văn")]) == ["ĐẶNG VĂN"]


def test_sex_default_values_case_and_nfc_insensitive():
    raw = ["Nam", "Nữ", "NỮ", nfd("nữ"), " nam ", "1", "0", "M", "f", "x", "", None]
    expected = ["male", "female", "female", "female", "male", "male", "female", "male", "female"]
    assert run("sex", raw) == [*expected, None, None, None]


def test_sex_custom_values():
    assert run("sex", ["Trai", "Gái", "Nam"], values={"trai": "male", "GÁI": "female"}) == [
        "male",
        "female",
        None,
    ]


def test_map_with_and_without_default():
    values = {"hoat_dong": "active", "tam_ngung": "suspended"}
    raw = ["hoat_dong", " tam_ngung ", "giai_the", None]
    assert run("map", raw, values=values) == ["active", "suspended", None, None]
    assert run("map", raw, values=values, default="other") == ["active", "suspended", "other", None]


def test_a_few_dirty_values_among_clean_ones_are_cleaned_in_their_places():
    clean = [f"09{n:08d}" for n in range(10)]
    raw = [*clean[:3], "  0912 345 678 ", *clean[3:7], None, "\u200b0987654321", *clean[7:], ""]
    assert run("text", raw) == [*clean[:3], "0912 345 678", *clean[3:7], None, "0987654321", *clean[7:], None]


def test_every_character_text_takes_as_clean_is_left_as_it_is_alone_and_beside_any_other():
    # `text` skips its passes on values of clean characters (normalise/shortcut.py): that is sound
    # only if the passes change none of them, including NFC composing two neighbours.
    codepoints = pl.Series([chr(c) for c in range(0x30000) if not 0xD800 <= c <= 0xDFFF], dtype=pl.String)
    clean = codepoints.filter(codepoints.str.contains(_CLEAN)).to_list()
    assert "ư" in clean and "ỹ" in clean and "Ð" not in clean and "\u0301" not in clean
    values = pl.Series(
        "v", clean + [a + b for a in clean for b in clean] + [f"{a} {b}" for a in clean for b in clean[::7]]
    )
    out = values.to_frame().select(_cleaned(pl.col("v"))).to_series()
    changed = values.filter(out.ne_missing(values)).to_list()
    assert changed == [], changed[:10]
