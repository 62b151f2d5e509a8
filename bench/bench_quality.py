"""Benchmark: the citizen suite on N synthetic citizens, compiled Polars vs GE's pandas engine.

Each engine runs in its own subprocess (so peak RSS is its own): the child generates the same
seeded frame, then validates it and reports seconds and peak RSS as JSON. The parent prints both,
the ratios, and whether the unexpected counts per rule agree.

    uv run python bench/bench_quality.py                 # 2,000,000 rows
    uv run python bench/bench_quality.py --rows 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 1, 15)
DIRT_RATE = 0.01


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def citizens(rows: int, seed: int = 7):  # -> pl.DataFrame
    """Seeded synthetic citizens in the canonical columns, about 1% dirt per rule, built vectorised."""
    import numpy as np
    import polars as pl

    from normalise.admin import admin_tables

    rng = np.random.default_rng(seed)
    tables = admin_tables()
    legacy_provinces = np.array(sorted(tables.legacy_provinces))
    provinces_2025 = np.array(sorted(tables.provinces("2025")))
    legacy_wards = np.array(sorted(tables.wards("legacy")))
    wards_2025 = np.array(sorted(tables.wards("2025")))

    def dirty(n_choices: int = 1) -> np.ndarray:
        return rng.random(rows) < DIRT_RATE * n_choices

    days = rng.integers(-14_600, 18_000, rows)  # 1930 .. 2019
    is_female = rng.random(rows) < 0.5
    frame = pl.DataFrame(
        {
            "row": np.arange(rows),
            "dob": pl.Series(days, dtype=pl.Int32).cast(pl.Date),
            "female": is_female,
            "province": rng.choice(legacy_provinces, rows),
            "random6": rng.integers(0, 1_000_000, rows),
            "ward": rng.choice(legacy_wards, rows),
            "ward_2025": rng.choice(wards_2025, rows),
            "province_2025": rng.choice(provinces_2025, rows),
            "phone_valid": rng.random(rows) > DIRT_RATE,
            "dead": rng.random(rows) < 0.05,
            "death_days": rng.integers(0, 20_000, rows),
            "cmnd": rng.integers(100_000_000, 999_999_999, rows),
            "has_cmnd": rng.random(rows) < 0.4,
            "id_dirt": dirty(),
            "mismatch": dirty(),
            "future": dirty(),
            "no_name": dirty(),
            "bad_admin": dirty(),
        }
    )
    year = pl.col("dob").dt.year()
    century_sex = ((year - 1900) // 100) * 2 + pl.col("female").cast(pl.Int32)
    personal_id = pl.concat_str(
        pl.lit("0"),
        pl.col("province"),
        century_sex.cast(pl.String),
        (year % 100).cast(pl.String).str.zfill(2),
        pl.col("random6").cast(pl.String).str.zfill(6),
    )
    sex = pl.when(pl.col("female")).then(pl.lit("female")).otherwise(pl.lit("male"))
    return frame.select(
        personal_id=pl.when(pl.col("id_dirt"))
        .then(personal_id.str.slice(0, 11) + "x")
        .otherwise(personal_id),
        cmnd=pl.when(pl.col("has_cmnd")).then(pl.col("cmnd").cast(pl.String)),
        full_name=pl.when(~pl.col("no_name")).then(pl.lit("Nguyễn Văn ") + pl.col("row").cast(pl.String)),
        name_key=pl.lit("nguyen van"),
        date_of_birth=pl.when(pl.col("future")).then(pl.lit(dt.date(2030, 1, 1))).otherwise(pl.col("dob")),
        date_of_birth_precision=pl.lit("day"),
        sex=pl.when(pl.col("mismatch"))
        .then(pl.when(pl.col("female")).then(pl.lit("male")).otherwise(pl.lit("female")))
        .otherwise(sex),
        birth_province_legacy=pl.when(pl.col("bad_admin")).then(pl.lit("99")).otherwise(pl.col("province")),
        birth_province_2025=pl.col("province_2025"),
        residence_ward_legacy=pl.col("ward"),
        residence_ward_2025=pl.col("ward_2025"),
        residence_ward_review=pl.lit(False),
        phone=pl.lit("+84912345678"),
        phone_raw=pl.lit("0912 345 678"),
        phone_valid=pl.col("phone_valid"),
        vital_status=pl.when(pl.col("dead")).then(pl.lit("deceased")).otherwise(pl.lit("alive")),
        date_of_death=pl.when(pl.col("dead")).then(
            pl.col("dob") + pl.duration(days=pl.col("death_days") - 1_000)
        ),
        updated_at=pl.lit(dt.datetime(2025, 6, 1)),
    )


def run_engine(engine: str, rows: int) -> dict:
    """In the child: build the frame, validate it with one engine, report figures."""
    import polars as pl

    started = time.perf_counter()
    from quality.suites import load_suite

    suite = load_suite("citizen")  # imports Great Expectations (the compiled path needs the suite too)
    import_s = time.perf_counter() - started
    frame = citizens(rows)
    rss_before = _peak_rss_mib()
    started = time.perf_counter()
    if engine == "polars":
        from quality.compile import compile_suite, flag_rows, rule_counts

        compiled = compile_suite(suite, today=TODAY)
        counts = rule_counts(flag_rows(frame, compiled), compiled)
    else:
        from quality.ge_engine import unexpected_counts_with_ge

        counts = unexpected_counts_with_ge(frame, suite, today=TODAY)
    seconds = time.perf_counter() - started
    assert isinstance(frame, pl.DataFrame)
    return {
        "engine": engine,
        "rows": rows,
        "expectations": len(suite.expectations),
        "seconds": round(seconds, 2),
        "import_seconds": round(import_s, 2),
        "peak_rss_mib": round(_peak_rss_mib()),
        "rss_before_validation_mib": round(rss_before),
        "counts": counts,
    }


def _child(engine: str, rows: int) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--engine", engine, "--rows", str(rows)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{engine} run failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--engine", choices=["polars", "ge"], help="(internal) run one engine in this process"
    )
    args = parser.parse_args()
    if args.engine:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(run_engine(args.engine, args.rows)))
        return
    results = {engine: _child(engine, args.rows) for engine in ("polars", "ge")}
    polars_run, ge_run = results["polars"], results["ge"]
    print(
        f"citizen suite ({polars_run['expectations']} expectations) on {args.rows:,} rows; each engine in its own process"
    )
    print(
        f"{'engine':<8} {'validate s':>10} {'peak RSS MiB':>13} {'RSS before validate MiB':>24} {'GE import s':>12}"
    )
    for run in (polars_run, ge_run):
        print(
            f"{run['engine']:<8} {run['seconds']:>10.2f} {run['peak_rss_mib']:>13} "
            f"{run['rss_before_validation_mib']:>24} {run['import_seconds']:>12.2f}"
        )
    growth = {
        name: max(run["peak_rss_mib"] - run["rss_before_validation_mib"], 1) for name, run in results.items()
    }
    print(f"time ratio GE / Polars: {ge_run['seconds'] / max(polars_run['seconds'], 1e-9):.1f}x")
    print(f"peak RSS ratio GE / Polars: {ge_run['peak_rss_mib'] / polars_run['peak_rss_mib']:.1f}x")
    print(f"RSS growth while validating, GE / Polars: {growth['ge']} / {growth['polars']} MiB")
    differing = {
        rule: (count, ge_run["counts"].get(rule))
        for rule, count in polars_run["counts"].items()
        if ge_run["counts"].get(rule) != count
    }
    print(
        "unexpected counts agree for every rule"
        if not differing
        else f"counts differ (polars, ge): {differing}"
    )
    print("broken rows per rule:", json.dumps(polars_run["counts"]))


if __name__ == "__main__":
    main()
