"""Word pools and code lists the demo generator draws from.

Administrative codes come from the `vietnam-provinces` package (official NSO list of 2025-01 for
the legacy units, and its old → new ward conversion table); the province mapping is the rule book's
(docs: /work/shared/reference/vietnam-data.md §2), written out here because the package's
conversion table carries a known flaw (Tiền Giang partly mapped to 80).

Over 300 lines because most of it is word lists (names, streets, occupations): data, not logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

# Surnames with rough population shares (per cent): the big ten cover most people.
SURNAMES: dict[str, float] = {
    "Nguyễn": 38.0,
    "Trần": 11.0,
    "Lê": 9.5,
    "Phạm": 7.0,
    "Hoàng": 3.5,
    "Huỳnh": 2.0,
    "Phan": 4.5,
    "Vũ": 2.5,
    "Võ": 1.5,
    "Đặng": 2.1,
    "Bùi": 2.0,
    "Đỗ": 1.4,
    "Hồ": 1.3,
    "Ngô": 1.3,
    "Dương": 1.0,
    "Lý": 0.5,
    "Đinh": 0.8,
    "Trương": 0.8,
    "Lương": 0.5,
    "Mai": 0.5,
    "Đoàn": 0.5,
    "Cao": 0.4,
    "Tạ": 0.3,
    "Lâm": 0.3,
    "Châu": 0.2,
    "Trịnh": 0.5,
    "Hà": 0.4,
}
MIDDLE_MALE: tuple[str, ...] = (
    "Văn",
    "Văn",
    "Văn",
    "Đức",
    "Minh",
    "Quốc",
    "Hữu",
    "Thanh",
    "Công",
    "Đình",
    "Xuân",
    "Gia",
    "Hoàng",
    "Ngọc",
    "Trọng",
    "Văn Minh",
    "Đức Anh",
    "Quang",
    "Bảo",
)
MIDDLE_FEMALE: tuple[str, ...] = (
    "Thị",
    "Thị",
    "Thị",
    "Ngọc",
    "Thu",
    "Thanh",
    "Minh",
    "Kim",
    "Bảo",
    "Mỹ",
    "Diệu",
    "Khánh",
    "Thị Thu",
    "Thị Ngọc",
    "Thúy",
    "Phương",
    "Hồng",
    "Thủy",
)
GIVEN_MALE: tuple[str, ...] = (
    "An",
    "Anh",
    "Bảo",
    "Bình",
    "Cường",
    "Dũng",
    "Duy",
    "Đạt",
    "Đức",
    "Hải",
    "Hiếu",
    "Hòa",
    "Hoàng",
    "Hùng",
    "Huy",
    "Khang",
    "Khánh",
    "Khỏe",
    "Khoa",
    "Kiên",
    "Lâm",
    "Long",
    "Minh",
    "Nam",
    "Nghĩa",
    "Phong",
    "Phúc",
    "Quân",
    "Quang",
    "Sơn",
    "Tài",
    "Thắng",
    "Thành",
    "Thịnh",
    "Thụy",
    "Toàn",
    "Trung",
    "Tuấn",
    "Tùng",
    "Việt",
    "Vinh",
    "Đông",
    "Hòa",
    "Thủy",
    "Tùy",
)
GIVEN_FEMALE: tuple[str, ...] = (
    "An",
    "Anh",
    "Châu",
    "Chi",
    "Diệp",
    "Dung",
    "Giang",
    "Hà",
    "Hạnh",
    "Hằng",
    "Hiền",
    "Hoa",
    "Hòa",
    "Hồng",
    "Huyền",
    "Hương",
    "Lan",
    "Linh",
    "Loan",
    "Mai",
    "My",
    "Nga",
    "Ngân",
    "Ngọc",
    "Nhung",
    "Oanh",
    "Phương",
    "Quỳnh",
    "Thảo",
    "Thoa",
    "Thủy",
    "Thụy",
    "Trang",
    "Trinh",
    "Tuyết",
    "Uyên",
    "Vân",
    "Xuân",
    "Yến",
    "Thúy",
    "Khỏe",
    "Đào",
    "Diệu",
    "Thủy",
)

# The two legitimate tone-mark placements for open syllables oa/oe/uy: "new" style (tone on the
# main vowel: Hòa, Thủy) and "old" style (Hoà, Thuỷ). Each person's name is in one style.
TONE_STYLE_PAIRS: dict[str, str] = {
    "Hòa": "Hoà",
    "Thủy": "Thuỷ",
    "Khỏe": "Khoẻ",
    "Thụy": "Thuỵ",
    "Thúy": "Thuý",
    "Tùy": "Tuỳ",
}


def other_tone_style(word: str) -> str:
    """The same word (one or more syllables) with each syllable's tone mark moved to the other style."""
    reverse = {v: k for k, v in TONE_STYLE_PAIRS.items()}
    table = TONE_STYLE_PAIRS | reverse
    return " ".join(table.get(syllable, syllable) for syllable in word.split(" "))


def old_tone_style(word: str) -> str:
    return " ".join(TONE_STYLE_PAIRS.get(s, s) for s in word.split(" "))


# Current 10-digit mobile prefixes (all validated as mobile by `phonenumbers`, region VN).
MOBILE_PREFIXES: tuple[str, ...] = (
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "056",
    "058",
    "059",
    "070",
    "076",
    "077",
    "078",
    "079",
    "081",
    "082",
    "083",
    "084",
    "085",
    "086",
    "088",
    "090",
    "091",
    "092",
    "093",
    "094",
    "096",
    "097",
    "098",
)
# The 2018 conversion, reversed: a current prefix → the 11-digit prefix it replaced.
ELEVEN_DIGIT_PREFIX: dict[str, str] = {
    **{f"03{d}": f"016{d}" for d in "23456789"},
    "070": "0120",
    "079": "0121",
    "077": "0122",
    "076": "0126",
    "078": "0128",
    "083": "0123",
    "084": "0124",
    "085": "0125",
    "081": "0127",
    "082": "0129",
    "056": "0186",
    "058": "0188",
    "059": "0199",
}

# Legacy (pre-2025) province code → 2025 province code (rule book §2).
PROVINCE_2025: dict[str, str] = {
    f"{old:02d}": f"{new:02d}"
    for old, new in {
        2: 8,
        6: 19,
        10: 15,
        17: 25,
        26: 25,
        27: 24,
        30: 31,
        34: 33,
        35: 37,
        36: 37,
        45: 44,
        49: 48,
        54: 66,
        58: 56,
        60: 68,
        62: 51,
        64: 52,
        67: 68,
        70: 75,
        72: 80,
        74: 79,
        77: 79,
        83: 86,
        84: 86,
        87: 82,
        89: 91,
        93: 92,
        94: 92,
        95: 96,
    }.items()
}

ENTERPRISE_FORMS: tuple[str, ...] = (
    "Công ty TNHH",
    "Công ty Cổ phần",
    "Công ty TNHH MTV",
    "Doanh nghiệp tư nhân",
    "Hợp tác xã",
)
ENTERPRISE_WORDS: tuple[str, ...] = (
    "Thương mại",
    "Dịch vụ",
    "Xây dựng",
    "Sản xuất",
    "Đầu tư",
    "Vận tải",
    "Công nghệ",
    "Nông sản",
    "Thủy sản",
    "Du lịch",
    "May mặc",
    "Điện tử",
    "Thực phẩm",
    "Kỹ thuật",
    "Giáo dục",
    "Y tế",
)
ENTERPRISE_BRANDS: tuple[str, ...] = (
    "Hoàng Long",
    "Phú Thịnh",
    "An Phát",
    "Việt Tiến",
    "Minh Khang",
    "Sao Mai",
    "Đại Dương",
    "Thành Công",
    "Bình Minh",
    "Hưng Thịnh",
    "Trường Sơn",
    "Tân Phú",
    "Nam Việt",
    "Hòa Bình",
    "Ánh Dương",
    "Kim Long",
    "Phương Đông",
    "Thiên Phúc",
    "Đông Á",
    "Hải Âu",
)
REPRESENTATIVE_TITLES: tuple[str, ...] = (
    "Giám đốc",
    "Tổng giám đốc",
    "Chủ tịch Hội đồng quản trị",
    "Chủ tịch Hội đồng thành viên",
    "Chủ doanh nghiệp",
)
ENTERPRISE_STATUSES: tuple[str, ...] = ("hoat_dong", "tam_ngung", "giai_the")
WELFARE_KINDS: tuple[str, ...] = ("nguoi_cao_tuoi", "khuyet_tat", "ho_ngheo", "nguoi_co_cong")
# Monthly allowance per welfare kind, VND (orders of magnitude of the 2021–2024 decrees).
WELFARE_AMOUNTS: dict[str, tuple[int, ...]] = {
    "nguoi_cao_tuoi": (360_000, 500_000),
    "khuyet_tat": (540_000, 720_000, 900_000),
    "ho_ngheo": (500_000,),
    "nguoi_co_cong": (2_055_000, 2_789_000),
}


@dataclass(frozen=True)
class AdminCodes:
    """The legacy province and ward lists as arrays, wards grouped by province (sorted by code)."""

    provinces: np.ndarray  # legacy province codes, '01'…'96'
    ward_codes: np.ndarray  # legacy ward codes, 5 digits, grouped by province
    ward_2025: np.ndarray  # the 2025 ward code, or None where the ward was split
    ward_offsets: np.ndarray  # start index in ward_codes of each province
    ward_counts: np.ndarray  # number of wards of each province
    unknown_provinces: tuple[str, ...]  # two-digit codes in neither the legacy nor the 2025 list
    known_wards: frozenset[str]  # every legacy or 2025 ward code


@cache
def admin_codes() -> AdminCodes:
    """Legacy wards tied to their province, with their 2025 ward when unambiguous."""
    from vietnam_provinces import Ward as Ward2025
    from vietnam_provinces._ward_conversion_2025 import OLD_TO_NEW
    from vietnam_provinces.legacy import Province, Ward

    provinces = sorted(f"{int(p.code):02d}" for p in Province.iter_all())
    rows: list[tuple[str, str, str | None]] = []
    for ward in Ward.iter_all():
        code = int(ward.code)
        entry = OLD_TO_NEW.get(code)
        province = f"{int(ward.province_code):02d}"
        # Skip the few wards missing from the conversion table or filed under another province.
        if entry is None or entry.old_ward.province_code != int(province):
            continue
        new = entry.new_wards[0].code if len(entry.new_wards) == 1 else None
        rows.append((province, f"{code:05d}", None if new is None else f"{new:05d}"))
    rows.sort(key=lambda r: (r[0], r[1]))
    ward_province = np.array([r[0] for r in rows])
    offsets = np.searchsorted(ward_province, provinces, side="left")
    counts = np.searchsorted(ward_province, provinces, side="right") - offsets
    known = {r[1] for r in rows} | {f"{int(w.code):05d}" for w in Ward2025.iter_all()}
    known |= {f"{c:05d}" for c in OLD_TO_NEW}
    unknown = tuple(f"{c:02d}" for c in range(1, 100) if f"{c:02d}" not in provinces)
    return AdminCodes(
        provinces=np.array(provinces),
        ward_codes=np.array([r[1] for r in rows]),
        ward_2025=np.array([r[2] for r in rows], dtype=object),
        ward_offsets=offsets.astype(np.int64),
        ward_counts=counts.astype(np.int64),
        unknown_provinces=unknown,
        known_wards=frozenset(known),
    )
