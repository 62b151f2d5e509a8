"""Legacy Vietnamese encodings in file drops (issue 11, defect 11; issue 15): TCVN3, VNI and
Windows-1258 files are detected, decoded to NFC Unicode and landed; bytes no encoding explains
are quarantined whole. The byte sequences are real: TCVN3 and VNI samples as published with
converters of those encodings, Windows-1258 from Python's own codec."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from connectors.encodings import UndecodableText, decode_text, detect_encoding, plausibility
from pipeline.load import load_table
from pipeline.names import LoadNames
from tests.fixtures.drops import FILES, HEADER, drop_ref, settled
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

# (bytes as the province's system wrote them, the text they are)
TCVN3 = [
    (b"B\xb6o Th\xbeng", "Bảo Thắng"),
    (b"M\xad\xeang Kh\xad\xacng", "Mường Khương"),
    (b"B\xb8t X\xb8t", "Bát Xát"),
]
VNI = [
    (b"Xin cha\xf8o ca\xf9c ba\xefn", "Xin chào các bạn"),
    (b"Nguye\xe3n Th\xf2 Thu\xfby", "Nguyễn Thị Thủy"),
    (b"Tr\xf6\xf4\xf8ng \xd1a\xebng", "Trường Đặng"),
]
# Windows-1258 writes a tone as a combining mark after the letter (decomposed), as Python's codec does.
CP1258 = [
    ("Nguy\u00ea\u0303n Thi\u0323 Thu\u0309y".encode("cp1258"), "Nguyễn Thị Thủy"),
    ("\u0110\u0103\u0323ng V\u0103n Hu\u0300ng".encode("cp1258"), "Đặng Văn Hùng"),
]


@pytest.mark.parametrize(("raw", "text", "encoding"), [
    *((raw, text, "tcvn3") for raw, text in TCVN3),
    *((raw, text, "vni") for raw, text in VNI),
    *((raw, text, "cp1258") for raw, text in CP1258),
    *((text.encode("utf-8"), text, "utf-8") for _, text in TCVN3),
])
def test_each_encoding_is_detected_and_decoded_to_nfc(raw: bytes, text: str, encoding: str) -> None:
    decoded, detected = decode_text(raw)
    assert (decoded, detected) == (text, encoding)
    assert unicodedata.is_normalized("NFC", decoded)
    assert decode_text(raw, encoding) == (text, encoding)  # declared gives the same


def test_a_bom_is_utf8_sig_and_bytes_no_encoding_explains_are_refused() -> None:
    assert detect_encoding("\ufeffHọ tên".encode()) == "utf-8-sig"
    assert decode_text("\ufeffHọ tên".encode())[0] == "Họ tên"
    with pytest.raises(UndecodableText, match="declare `encoding:`"):
        decode_text(b"\x00\x01\xff\xfe\x9d\x81 \xc3\xa9\xff")
    with pytest.raises(UndecodableText, match="not utf-8"):
        decode_text(b"B\xb6o", "utf-8")
    with pytest.raises(ValueError, match="unknown encoding"):
        decode_text(b"x", "viscii")


def test_plausibility_prefers_the_reading_with_vietnamese_syllables() -> None:
    raw = b"M\xad\xeang Kh\xad\xacng"
    assert plausibility(decode_text(raw, "tcvn3")[0]) == 1.0
    assert plausibility(decode_text(raw, "cp1258")[0]) < 0.5


def test_legacy_files_in_a_drop_land_with_their_names_decoded_exactly(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "drops" / "khai_tu"
    folder.mkdir(parents=True)
    samples = {"tcvn3": TCVN3, "vni": VNI, "cp1258": CP1258}  # one file each
    expected: dict[str, str] = {}
    for number, pairs in enumerate(samples.values()):
        rows = []
        for index, (raw, text) in enumerate(pairs):
            key = f"KT{number}{index:05d}"
            rows.append(f"{key},15/08/2026,,".encode() + raw + b",10/08/2026,01\n")
            expected[key] = text.title()  # the `name` normaliser title-cases
        (folder / f"2026-0{number + 1}.csv").write_bytes(HEADER.encode() + b"".join(rows))
    (folder / "2026-09.csv").write_bytes(HEADER.encode() + b"KT900001,15/09/2026,,\x00\xff\xfe\x9d\x81\xc3,10/09/2026,01\n")
    settled(folder)
    monkeypatch.setenv("NDC_STAGING_DIR", str(tmp_path / "staging"))
    ref = drop_ref(tmp_path / "drops", monkeypatch)
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path / "warehouse")))

    report = load_table(ref, warehouse, run_id="run-1", today=dt.date(2026, 12, 1))

    assert report.balanced and report.files_quarantined == 1
    silver = warehouse.read(LoadNames.of(ref).silver)
    landed = dict(zip(silver["registration_no"], silver["full_name"], strict=True))
    assert landed == expected
    assert warehouse.read(FILES)["file"].to_list() == ["2026-09.csv"]
