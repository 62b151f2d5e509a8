"""Benchmark: normalise 1,000,000 dirty rows (names, IDs, dates, sex, phones, wards, provinces).

    uv run python bench/bench_normalise.py [--rows 1000000] [--seed 7]

Generates the dirty frame once (parquet in a temp dir), then runs each case in a fresh child
process so that peak RSS (ru_maxrss) belongs to that case alone:
  baseline   plain `str.strip_chars` over the same text columns (read + one pass + write-free)
  eager      DataFrame.select of all normalisers (no common-subexpression elimination)
  lazy       the same expressions through LazyFrame.collect() (CSE on)
  streaming  LazyFrame.collect(engine="streaming")
Prints one line per case: seconds (normalise step only, excluding the parquet read), peak RSS,
and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from normalise import normaliser  # noqa: E402
from normalise.admin import admin_tables  # noqa: E402

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLES = ["Văn", "Thị", "Đức", "Minh", "Ngọc", "Thanh", "Quang", "Hữu"]
GIVENS = ["An", "Bình", "Hoà", "Hòa", "Thuỷ", "Thủy", "Khoẻ", "Quý", "Dũng", "Lan", "Hương", "Tuấn"]
TEXT_COLUMNS = ["ho_ten", "so_dinh_danh", "ngay_sinh", "gioi_tinh", "so_dien_thoai", "ma_xa", "ma_tinh"]


def dirty_frame(rows: int, seed: int) -> pl.DataFrame:
    """Dirty source-like text columns, drawn vectorised (numpy) so generation stays quick."""
    rng = np.random.default_rng(seed)
    names = [f"{s} {m} {g}" for s in SURNAMES for m in MIDDLES for g in GIVENS]
    variants: list[str] = []
    for n in names:  # clean, upper, NFD, Ð for Đ, extra spaces
        variants += [n, n.upper(), unicodedata.normalize("NFD", n), n.replace("Đ", "Ð"), f"  {n}  ".replace(" ", "  ")]
    name_col = np.asarray(variants, dtype=object)[rng.integers(0, len(variants), rows)]

    provinces = np.asarray([int(p) for p in admin_tables().legacy_provinces])
    ppp = provinces[rng.integers(0, len(provinces), rows)]
    year = rng.integers(1930, 2020, rows)
    male = rng.random(rows) < 0.5
    g = (year >= 2000) * 2 + (~male)
    ids = [f"{p:03d}{gg}{y % 100:02d}{r:06d}" for p, gg, y, r in zip(ppp, g, year, rng.integers(0, 999_999, rows), strict=True)]
    ids = np.asarray(ids, dtype=object)
    stripped = rng.random(rows) < 0.1
    ids[stripped] = [s.lstrip("0") for s in ids[stripped]]

    day = rng.integers(1, 29, rows)
    month = rng.integers(1, 13, rows)
    dates = np.asarray([f"{d:02d}/{m:02d}/{y}" for d, m, y in zip(day, month, year, strict=True)], dtype=object)
    kind = rng.random(rows)
    dates[kind < 0.03] = [f"00/00/{y}" for y in year[kind < 0.03]]
    dates[(kind >= 0.03) & (kind < 0.05)] = "31/02/1990"

    sexes = np.where(male, "Nam", "Nữ").astype(object)

    prefixes = np.asarray(["090", "091", "098", "097", "086", "083", "070", "0166", "0123", "024"])
    prefix = prefixes[rng.integers(0, len(prefixes), rows)]
    tail = rng.integers(0, 10_000_000, rows)
    # mobiles 0xx + 7 digits, old 01xx + 7 digits, Hà Nội landlines 024 + 8 digits
    phones = [f"{p}{t:07d}" + ("3" if p == "024" else "") for p, t in zip(prefix, tail, strict=True)]
    phones = np.asarray(phones, dtype=object)
    style = rng.random(rows)
    plus = style < 0.2
    phones[plus] = ["+84" + p[1:] for p in phones[plus]]
    spaced = (style >= 0.2) & (style < 0.4)
    phones[spaced] = [f"{p[:4]} {p[4:7]} {p[7:]}" for p in phones[spaced]]
    phones[style > 0.98] = "12345"

    wards = np.asarray(admin_tables().legacy_wards, dtype=object)
    ward_col = wards[rng.integers(0, len(wards), rows)]
    ward_col = np.asarray([w.lstrip("0") if i % 7 == 0 else w for i, w in enumerate(ward_col)], dtype=object)
    province_col = np.asarray([f"{p}" for p in ppp], dtype=object)

    columns = {
        "ho_ten": name_col,
        "so_dinh_danh": ids,
        "ngay_sinh": dates,
        "gioi_tinh": sexes,
        "so_dien_thoai": phones,
        "ma_xa": ward_col,
        "ma_tinh": province_col,
    }
    return pl.DataFrame({k: pl.Series(k, v.tolist(), dtype=pl.String) for k, v in columns.items()})


def normalise_exprs() -> list[pl.Expr]:
    n = normaliser
    return [
        n("name")(pl.col("ho_ten")).alias("full_name"),
        n("name_key")(pl.col("ho_ten")).alias("name_key"),
        n("personal_id")(pl.col("so_dinh_danh")).alias("personal_id"),
        n("date")(pl.col("ngay_sinh")).alias("date_of_birth"),
        n("date_precision")(pl.col("ngay_sinh")).alias("date_of_birth_precision"),
        n("sex")(pl.col("gioi_tinh")).alias("sex"),
        n("phone")(pl.col("so_dien_thoai")).alias("phone_e164"),
        n("phone_valid")(pl.col("so_dien_thoai")).alias("phone_valid"),
        n("ward_code")(pl.col("ma_xa")).alias("ward_code"),
        n("ward_2025")(pl.col("ma_xa")).alias("ward_2025"),
        n("ward_2025_candidates")(pl.col("ma_xa")).alias("ward_2025_candidates"),
        n("ward_needs_review")(pl.col("ma_xa")).alias("ward_needs_review"),
        n("province_2025")(pl.col("ma_tinh")).alias("province_2025"),
    ]


def run_case(case: str, path: Path) -> dict:
    frame = pl.read_parquet(path)
    admin_tables()  # code lists load once per process; not part of the per-batch cost
    start = time.perf_counter()
    if case == "baseline":
        out = frame.select([pl.col(c).str.strip_chars() for c in TEXT_COLUMNS])
    elif case == "eager":
        out = frame.select(normalise_exprs())
    elif case == "lazy":
        out = frame.lazy().select(normalise_exprs()).collect()
    elif case == "streaming":
        out = frame.lazy().select(normalise_exprs()).collect(engine="streaming")
    else:
        raise ValueError(f"unknown case {case!r}")
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    summary = {"case": case, "seconds": round(seconds, 3), "peak_rss_mib": round(peak_kib / 1024, 1), "rows": out.height}
    if case != "baseline":
        summary["phone_valid_share"] = round(float(out["phone_valid"].mean()), 4)
        summary["ward_review_share"] = round(float(out["ward_needs_review"].mean()), 4)
        summary["dob_null_share"] = round(float(out["date_of_birth"].is_null().mean()), 4)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cases", default="baseline,eager,lazy,streaming")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PARQUET"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_case(args.child[0], Path(args.child[1]))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dirty.parquet"
        started = time.perf_counter()
        dirty_frame(args.rows, args.seed).write_parquet(path)
        print(f"generated {args.rows:,} dirty rows in {time.perf_counter() - started:.1f}s", flush=True)
        results = []
        for case in args.cases.split(","):
            completed = subprocess.run(
                [sys.executable, __file__, "--child", case, str(path)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    baseline = next((r for r in results if r["case"] == "baseline"), None)
    for r in results:
        ratio = ""
        if baseline and r is not baseline:
            ratio = (
                f"  x{r['seconds'] / baseline['seconds']:.1f} time,"
                f" +{r['peak_rss_mib'] - baseline['peak_rss_mib']:.0f} MiB RSS vs baseline"
            )
        extras = {k: v for k, v in r.items() if k not in {"case", "seconds", "peak_rss_mib", "rows"}}
        print(f"{r['case']:<10} {r['seconds']:>8.2f}s  peak RSS {r['peak_rss_mib']:>7.1f} MiB{ratio}  {extras or ''}")


if __name__ == "__main__":
    main()
