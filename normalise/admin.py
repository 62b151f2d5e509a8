"""Administrative codes: provinces and wards in the legacy (2025-01) and 2025 (2025-07) code lists.

Codes are zero-padded text (province 2 digits, ward 5). A code is only meaningful together with
the list it comes from: 80 was Long An in the legacy list and is Tây Ninh in the 2025 list.

Code lists and the legacy → 2025 ward mapping are read once from the offline `vietnam-provinces`
package and cached. Known gaps of that package (2026.9.0): 28 legacy wards of its official list
are missing from its conversion table (they map to nothing here and are reported as unknown);
10 codes in the table are not in its legacy list; two table rows carry a wrong old province code
(27691, 30781); its province table also maps Tiền Giang (82) to two new provinces, so the
province mapping below is the rule book's table instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Literal

import polars as pl

import environment
from normalise.identifiers import without_float_tail
from normalise.raw import as_text

CodeList = Literal["legacy", "2025"]
CODE_LISTS: tuple[str, ...] = ("legacy", "2025")

# Old → new province (rule book §2); every legacy code not listed maps to itself.
PROVINCE_MERGES_2025: dict[str, str] = {
    "02": "08", "06": "19", "10": "15", "17": "25", "26": "25", "27": "24", "30": "31",
    "34": "33", "35": "37", "36": "37", "45": "44", "49": "48", "54": "66", "58": "56",
    "60": "68", "62": "51", "64": "52", "67": "68", "70": "75", "72": "80", "74": "79",
    "77": "79", "83": "86", "84": "86", "87": "82", "89": "91", "93": "92", "94": "92",
    "95": "96",
}  # fmt: skip


def _code_value(code: object) -> int:
    return int(getattr(code, "value", code))  # enum members carry the number in .value


@dataclass(frozen=True)
class AdminTables:
    """Code lists and mappings as Python collections (small: built once, reused by every expression)."""

    legacy_provinces: tuple[str, ...]
    provinces_2025: tuple[str, ...]
    legacy_wards: tuple[str, ...]
    wards_2025: tuple[str, ...]
    province_to_2025: dict[str, str]
    ward_candidates: dict[str, list[str]]

    def provinces(self, code_list: str) -> tuple[str, ...]:
        return self.legacy_provinces if code_list == "legacy" else self.provinces_2025

    def wards(self, code_list: str) -> tuple[str, ...]:
        return self.legacy_wards if code_list == "legacy" else self.wards_2025

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> AdminTables:
        lists = ("legacy_provinces", "provinces_2025", "legacy_wards", "wards_2025")
        values = {name: tuple(data[name]) for name in lists}  # type: ignore[call-overload]
        return cls(
            **values,
            province_to_2025=dict(data["province_to_2025"]),  # type: ignore[call-overload]
            ward_candidates={k: list(v) for k, v in data["ward_candidates"].items()},  # type: ignore[attr-defined]
        )


@cache
def admin_tables() -> AdminTables:
    """The code lists and the legacy → 2025 mappings: from the cache file of this version of
    `vietnam-provinces` when there is one, else built from the package (and the file written).

    Importing the package builds tens of thousands of Python objects at module level (seconds of
    CPU in every process that loads a table: a third of a 20,000-row sync, profiled with
    `python -m bench --profile`); the cache holds the same code lists as one small JSON file.
    """
    path = _cache_path()
    if path is not None:
        try:
            return AdminTables.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # absent, or not ours / damaged: rebuilt below
    tables = build_admin_tables()
    if path is not None:
        _write_atomically(path, json.dumps(tables.to_json()))
    return tables


def _cache_path() -> Path | None:
    """`$NDC_CACHE_DIR` (default ~/.cache/ndc) / admin-<package version>.json; None disables it
    (NDC_CACHE_DIR set empty) or when the package's version cannot be read."""
    root = environment.settings().cache_dir
    if root is None:
        return None
    try:
        version = metadata.version("vietnam-provinces")
    except metadata.PackageNotFoundError:
        return None
    return Path(root) / f"admin-{version}-{_CACHE_FORMAT}.json"


_CACHE_FORMAT = 1  # bump when AdminTables changes shape


def _write_atomically(path: Path, text: str) -> None:
    """Written to a temporary name and renamed: a reader never sees half a file. A cache that
    cannot be written (read-only home) is only a missed speed-up."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as f:
            f.write(text)
        os.replace(f.name, path)
    except OSError:
        pass


def build_admin_tables() -> AdminTables:
    """Build the code lists and the legacy → 2025 mappings from `vietnam-provinces`."""
    from vietnam_provinces import Province, Ward, legacy
    from vietnam_provinces._ward_conversion_2025 import OLD_TO_NEW  # data behind search_from_legacy

    legacy_provinces = tuple(sorted(f"{_code_value(p.code):02d}" for p in legacy.Province.iter_all()))
    provinces_2025 = tuple(sorted(f"{_code_value(p.code):02d}" for p in Province.iter_all()))
    legacy_wards = tuple(sorted(f"{_code_value(w.code):05d}" for w in legacy.Ward.iter_all()))
    wards_2025 = tuple(sorted(f"{_code_value(w.code):05d}" for w in Ward.iter_all()))
    province_to_2025 = {code: PROVINCE_MERGES_2025.get(code, code) for code in legacy_provinces}
    ward_candidates = {
        f"{old:05d}": sorted({f"{new.code:05d}" for new in entry.new_wards})
        for old, entry in OLD_TO_NEW.items()
    }
    return AdminTables(
        legacy_provinces=legacy_provinces,
        provinces_2025=provinces_2025,
        legacy_wards=legacy_wards,
        wards_2025=wards_2025,
        province_to_2025=province_to_2025,
        ward_candidates=ward_candidates,
    )


@cache
def ward_mapping_frame() -> pl.DataFrame:
    """legacy_ward → candidates_2025 (list), ward_2025 (null when split), needs_review."""
    candidates = admin_tables().ward_candidates
    # Built flat and gathered into lists by Polars: a list column made from Python lists took
    # 0.1–0.24 s (most of a small load's set-up), this takes 5 ms. Every legacy ward has at least
    # one candidate (vietnam-provinces' OLD_TO_NEW), so none is lost by the flattening.
    frame = (
        pl.DataFrame(
            {
                "legacy_ward": [ward for ward, into in candidates.items() for _ in into],
                "candidate": [new for into in candidates.values() for new in into],
            },
            schema={"legacy_ward": pl.String, "candidate": pl.String},
        )
        .group_by("legacy_ward", maintain_order=True)
        .agg(candidates_2025=pl.col("candidate"))
    )
    n_candidates = pl.col("candidates_2025").list.len()
    return frame.with_columns(
        ward_2025=pl.when(n_candidates == 1).then(pl.col("candidates_2025").list.first()),
        needs_review=n_candidates > 1,
        candidates_joined=pl.col("candidates_2025").list.join(","),
    )


def ward_mapping_coverage() -> dict[str, int]:
    """How much of the legacy list the mapping covers (for reports and tests)."""
    tables = admin_tables()
    mapped = set(tables.ward_candidates)
    legacy = set(tables.legacy_wards)
    frame = ward_mapping_frame()
    return {
        "legacy_wards": len(legacy),
        "mapped_legacy_wards": len(legacy & mapped),
        "legacy_wards_missing": len(legacy - mapped),
        "mapped_codes_not_in_legacy_list": len(mapped - legacy),
        "unique": int(frame["ward_2025"].is_not_null().sum()),
        "split": int(frame["needs_review"].sum()),
    }


def _padded_code(expr: pl.Expr, width: int) -> pl.Expr:
    """Digits (a number typed or written as a float's: normalise/raw.py) as a zero-padded code;
    other text → null.

    Leading zeros beyond the width are dropped ("079", the PPP form inside IDs, → "79").
    """
    raw = without_float_tail(as_text(expr).str.strip_chars())
    number = raw.str.extract(r"^0*(\d{1,9})$", 1)
    return number.str.zfill(width)


def _in_list(code: pl.Expr, codes: tuple[str, ...]) -> pl.Expr:
    return code.is_in(pl.Series(codes, dtype=pl.String).implode())


def province_code(
    expr: pl.Expr, code_list: CodeList = "legacy", unknown: Literal["keep", "null"] = "keep"
) -> pl.Expr:
    """Two-digit province code in the SAME list ("1" → "01"); nothing is converted between lists.

    A well-formed code missing from `code_list` is kept by default, so the `province_code_known`
    rule can quarantine it with its value visible; `unknown="null"` drops it instead.
    """
    code = _padded_code(expr, 2)
    if unknown == "null":
        return pl.when(_in_list(code, admin_tables().provinces(code_list))).then(code)
    return code


def ward_code(
    expr: pl.Expr, code_list: CodeList = "legacy", unknown: Literal["keep", "null"] = "keep"
) -> pl.Expr:
    """Five-digit ward code in the SAME list ("4" → "00004"); see `province_code` for `unknown`."""
    code = _padded_code(expr, 5)
    if unknown == "null":
        return pl.when(_in_list(code, admin_tables().wards(code_list))).then(code)
    return code


def province_2025(expr: pl.Expr, **options: str) -> pl.Expr:
    """The 2025 province code for a province code from list `from` ("legacy" default, or "2025").

    Mapped by code with the rule book's table (legacy 72 Tây Ninh → 80, legacy 80 Long An → 80);
    a code that is not in the source list → null.
    """
    source = options.get("from", "legacy")
    tables = admin_tables()
    code = _padded_code(expr, 2)
    if source == "2025":
        return pl.when(_in_list(code, tables.provinces_2025)).then(code)
    return code.replace_strict(tables.province_to_2025, default=None, return_dtype=pl.String)


def ward_2025(expr: pl.Expr, **options: str) -> pl.Expr:
    """The 2025 ward code for a ward, when it is unique; null for a split or unknown legacy ward."""
    source = options.get("from", "legacy")
    code = _padded_code(expr, 5)
    if source == "2025":
        return pl.when(_in_list(code, admin_tables().wards_2025)).then(code)
    mapping = ward_mapping_frame().filter(pl.col("ward_2025").is_not_null())
    return code.replace_strict(
        mapping["legacy_ward"], mapping["ward_2025"], default=None, return_dtype=pl.String
    )


def ward_2025_candidates(expr: pl.Expr) -> pl.Expr:
    """All 2025 wards a legacy ward went into (one for most; several for a split); unknown → null."""
    # Looked up as one comma-joined string and split: a flat replace_strict over cached Series.
    mapping = ward_mapping_frame()
    joined = _padded_code(expr, 5).replace_strict(
        mapping["legacy_ward"], mapping["candidates_joined"], default=None, return_dtype=pl.String
    )
    return joined.str.split(",")


def ward_needs_review(expr: pl.Expr) -> pl.Expr:
    """True for a legacy ward split among several 2025 wards (no address, no guess).

    Null or unparseable in → null.

    An unknown code is False here: it is the `ward_code_known` rule's business.
    """
    mapping = ward_mapping_frame()
    code = _padded_code(expr, 5)
    flag = code.replace_strict(
        mapping["legacy_ward"], mapping["needs_review"], default=False, return_dtype=pl.Boolean
    )
    return pl.when(code.is_not_null()).then(flag)
