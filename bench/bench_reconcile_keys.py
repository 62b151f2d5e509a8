"""Benchmark: what normalising the source's keys costs reconcile (`deletes: reconcile`).

    uv run python -m bench.bench_reconcile_keys [--keys 1000000] [--rounds 5]

Reconcile anti-joins silver's live keys with every source key, normalised as the load normalises
them (pipeline/deletes.py: _vanished_keys). This times that step on the citizens table's key
(`personal_id`) against the anti-join of the raw keys alone, the floor a "compare raw keys first"
shortcut could reach, in alternating rounds. The source's keys: 12-digit IDs, one in ten written
with separators or without its leading zeros (the dirty share the bench table has); silver holds
99% of them. Prints wall and process CPU seconds per round and their medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import polars as pl

from catalogue import load_catalogue
from pipeline.mapping import canonical_expressions


def source_keys(keys: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = pl.Series("so_dinh_danh", rng.integers(1_000_000_000, 99_999_999_999, keys)).cast(pl.String).str.zfill(12)
    dirty = pl.Series(rng.random(keys) < 0.1)
    written = (
        pl.when(dirty).then(pl.concat_str(ids.str.slice(0, 3), pl.lit(" "), ids.str.slice(3)).str.strip_chars_start("0"))
        .otherwise(ids)
    )
    return pl.DataFrame({"so_dinh_danh": ids}).select(written.alias("so_dinh_danh"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    ref = load_catalogue().table("population.citizens")
    keys = ref.entity.primary_key
    normalised = [e for name, e in canonical_expressions(ref.table, ref.entity).items() if name in keys]
    source = source_keys(args.keys, args.seed)
    live = source.lazy().select(normalised).collect().sample(fraction=0.99, seed=args.seed)

    def as_reconcile() -> int:
        return live.lazy().join(source.lazy().select(normalised), on=keys, how="anti").collect().height

    def raw_only() -> int:
        raw = source.lazy().rename({"so_dinh_danh": keys[0]})
        return live.lazy().join(raw, on=keys, how="anti").collect().height

    steps = {"normalised (reconcile)": as_reconcile, "raw keys only": raw_only}
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for round_ in range(args.rounds):
        order = list(steps) if round_ % 2 == 0 else list(reversed(steps))  # alternated: no step always first
        for name in order:
            step = steps[name]
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            timings[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            print(f"round {round_ + 1} {name}: {timings[name][-1][0]:.3f} s wall, {timings[name][-1][1]:.3f} s CPU")
    for name, runs in timings.items():
        print(f"{name}: median {statistics.median(w for w, _ in runs):.3f} s wall, "
              f"{statistics.median(c for _, c in runs):.3f} s CPU ({args.keys:,} keys)")


if __name__ == "__main__":
    main()
