"""What each source column of one slice costs to normalise, by the two paths canonical_frame has.

    uv run --group bench python -m bench.bench_columns --work /tmp/bench1m
    uv run --group bench python -m bench.bench_columns --work /tmp/bench1m --rows 100000

Reads the first `--rows` rows (a load's slice is 250k) of the bench table (`python -m bench` made
it in `--work`; its server is started or reused) and, for each source column of
population.citizens, times in milliseconds (best of `--repeat`): its exact distinct values
(`unique`), the mappings run on every row (`direct`), run on the distinct values only (`on_distinct`) and joined back to the rows
(`join`). `path` is the one pipeline/mapping.py takes. A load's judging skips the
key and version columns: the duplicate pass made them already (`known`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from bench import methods, source
from catalogue import TableRef
from pipeline import mapping


def best_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(min(times) * 1000, 1)


def column_costs(raw: pl.DataFrame, ref: TableRef, repeat: int = 5) -> pl.DataFrame:
    """One row per source column: its distinct share, the path taken and each step's milliseconds."""
    schema = mapping.entity_schema(ref.entity)
    rows = []
    for name, mappings in mapping.mappings_by_source(ref.table).items():
        values = raw.get_column(name)
        distinct = values.unique()
        verdicts = mapping._normalise(distinct, mappings, schema)
        rows.append({
            "column": name,
            "mappings": len(mappings),
            "distinct_share": round(distinct.len() / max(values.len(), 1), 3),
            "path": "direct" if mapping.repeating_values(values) is None else "distinct",
            "unique": best_ms(values.unique, repeat),
            "join": best_ms(lambda v=values, d=distinct, n=verdicts: mapping.joined_back(v, d, n), repeat),
            "on_distinct": best_ms(lambda d=distinct, m=mappings: mapping._normalise(d, m, schema), repeat),
            "direct": best_ms(lambda v=values, m=mappings: mapping._normalise(v, m, schema), repeat),
        })
    return pl.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="the bench's --work folder (its server and table)")
    parser.add_argument("--rows", type=int, default=250_000, help="rows of the slice (a load's slice: 250,000)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    import connectorx as cx

    server = source.start_server(args.work.resolve() / "postgres")
    query = f"SELECT * FROM {source.TABLE} LIMIT {int(args.rows)}"  # the first slice, as a load reads it
    raw = pl.from_arrow(cx.read_sql(server.url(source.DATABASE), query, return_type="arrow"))
    assert isinstance(raw, pl.DataFrame)
    costs = column_costs(raw, methods.citizens_ref(source.TABLE), args.repeat)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(f"{raw.height:,} rows of {source.TABLE}, milliseconds (best of {args.repeat})")
        print(costs)
        steps = costs.select(pl.exclude("column", "mappings", "distinct_share", "path")).sum().row(0, named=True)
        print("total:", ", ".join(f"{step} {ms:.1f}" for step, ms in steps.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
