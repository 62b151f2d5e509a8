"""The benchmark harness: our sync against the physical limit (COPY) and the peer (dlt) on one
PostgreSQL table, in rounds of shuffled order, each method in its own process.

    uv run --group bench python -m bench                 # 1,000,000 rows, 3 rounds
    uv run --group bench python -m bench --rows 200000 --rounds 3
    uv run --group bench python -m bench --ten-million   # 10,000,000 rows (hours on 2 cores)

Methods (bench/methods.py): `copy` COPY (FORMAT binary) to nowhere; `ours` our full sync of
population.citizens (load_table, no Dagster) into a fresh warehouse, also `ours_no_validation`,
`ours_no_linking` and `ours_jemalloc_decay0` (Polars' jemalloc returning freed pages at once); `dlt_replace` and `dlt_merge` (sql_table, connectorx → Delta on the same disk);
`night` our incremental sync after 1% updated, 1% inserted, 0.1% deleted (void unless silver then
equals the changed source); `query` the analyst's group-by over silver (ndc sql's session).
Per method: wall (the work, start-up excluded), CPU seconds, rows/s, peak RSS; the median over
rounds, and the median of per-round ratios to COPY's wall. Writes JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import source

SYNC_METHODS = (
    "copy", "ours", "ours_no_validation", "ours_no_linking", "ours_jemalloc_decay0", "dlt_replace", "dlt_merge",
)
METHODS = (*SYNC_METHODS, "query", "night")
# The modules a choice of methods needs beyond the project's own: the `bench` dependency group.
GROUP_MODULES = {"dlt_replace": "dlt", "dlt_merge": "dlt"}
# Polars' jemalloc returning freed pages at once instead of after its decay time (10 s by
# default): read by jemalloc when Polars' library loads, so it is set in the child's environment.
JEMALLOC_DECAY0 = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}


def run_child(
    method: str, args: dict[str, Any], timeout_s: float, code: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One method in a fresh process; its own JSON line back, plus the process's wall seconds.
    With `code` (another checkout of this repository), this harness's measuring code runs that
    checkout's pipeline: before and after a change, measured in the same rounds. `extra_env` is
    added to the child's environment."""
    started = time.perf_counter()
    if code is None:
        command, env, cwd = [sys.executable, "-m", "bench.methods"], None, None
    else:
        command = [sys.executable, str(Path(__file__).with_name("methods.py"))]
        env, cwd = {**os.environ, "PYTHONPATH": str(code)}, str(code)
    if extra_env:
        env = {**(env or os.environ), **extra_env}
    done = subprocess.run(
        [*command, method, "-"], input=json.dumps(args), capture_output=True, text=True, timeout=timeout_s,
        env=env, cwd=cwd,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(time.perf_counter() - started, 3)
    return result


def one_round(
    number: int, server, src: source.Source, work: Path, timeout_s: float, order_seed: int,
    methods: tuple[str, ...] = METHODS, baseline: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Every method once, in an order shuffled per round; the night and the query last (they
    need the full sync's warehouse, and the night works on its own copy of the table). `methods`
    picks some (the query needs `ours`; the night makes its own full sync); `baseline` adds
    another checkout's full sync as `ours_baseline`."""
    order = [m for m in SYNC_METHODS if m in methods]
    if baseline is not None:
        order.append("ours_baseline")
    random.Random(order_seed + number).shuffle(order)
    results: dict[str, dict[str, Any]] = {}
    common = {"url": src.url, "table": source.TABLE, "rows": src.rows}
    for method in order:
        folder = work / f"round{number}-{method}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if method == "copy":
            results[method] = run_child("copy", {**common, "url": src.admin_url}, timeout_s)
        elif method == "ours_baseline":
            results[method] = run_child("ours", {**common, "warehouse": str(folder / "wh")}, timeout_s, baseline)
        elif method.startswith("ours"):
            knobs = {"validate": method != "ours_no_validation", "link": method != "ours_no_linking"}
            extra_env = JEMALLOC_DECAY0 if method == "ours_jemalloc_decay0" else None
            results[method] = run_child(
                "ours", {**common, "warehouse": str(folder / "wh"), **knobs}, timeout_s, extra_env=extra_env
            )
        else:
            disposition = method.removeprefix("dlt_")
            results[method] = run_child(
                "dlt", {**common, "disposition": disposition, "warehouse": str(folder / "wh"),
                        "workdir": str(folder / "dlt")}, timeout_s,
            )
        shutil.rmtree(folder / "dlt", ignore_errors=True)
        print(f"  round {number} {method}: {_short(results[method])}", flush=True)
    if "query" in methods and "ours" in results:
        results["query"] = run_child("query", {**common, "warehouse": str(work / f"round{number}-ours" / "wh")}, timeout_s)
        print(f"  round {number} query: {_short(results['query'])}", flush=True)
    if "night" in methods:
        results["night"] = _night(number, server, src, work, timeout_s)
        print(f"  round {number} night: {_short(results['night'])}", flush=True)
    for method in list(results):
        if method != "night":
            shutil.rmtree(work / f"round{number}-{method}", ignore_errors=True)
    return results


def _night(number: int, server, src: source.Source, work: Path, timeout_s: float) -> dict[str, Any]:
    """A full sync of a copy of the table (not timed), the ministry's night on that copy, then
    our incremental sync (timed) and the check that silver equals the changed source."""
    import polars as pl

    from pipeline.names import DELETED

    name = f"{source.TABLE}_night"
    source.copy_table(server, name)
    folder = work / f"round{number}-night"
    shutil.rmtree(folder, ignore_errors=True)
    warehouse = folder / "wh"
    common = {"url": src.url, "table": name, "rows": src.rows, "warehouse": str(warehouse)}
    full = run_child("ours", {**common, "run_id": "first"}, timeout_s)
    silver = pl.scan_delta(str(warehouse / "silver" / "population" / "citizens"))
    clean = silver.filter(~pl.col(DELETED).fill_null(False)).select("personal_id").collect()["personal_id"]
    high = silver.select(pl.col("updated_at").max()).collect().item()
    stamp = (high + __import__("datetime").timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    changes = source.night_changes(server, name, clean.to_list(), stamp, seed=number)
    result = run_child("night", {**common, "changes": changes.__dict__}, timeout_s)
    result["full_sync_same_round"] = {k: full[k] for k in ("wall_s", "cpu_s", "peak_rss_mib", "rows", "stages")}
    result["share_of_full_sync_wall"] = round(result["wall_s"] / full["wall_s"], 3)
    result["share_of_full_sync_cpu"] = round(result["cpu_s"] / full["cpu_s"], 3)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def _short(result: dict[str, Any]) -> str:
    extra = f" valid={result['valid']}" if "valid" in result else ""
    if "silver_commit" in result:
        extra += f"; silver commit: {result['silver_commit']}"
    if "stages" in result:
        extra += "; stages: " + ", ".join(f"{k} {v:.2f}" for k, v in result["stages"].items())
    return (f"{result['wall_s']:.2f}s wall, {result['cpu_s']:.2f}s CPU, "
            f"{result['peak_rss_mib']:.0f} MiB, {result.get('rows', 0):,} rows{extra}")


def summarise(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per method: medians over rounds, and the median of per-round ratios to COPY's wall."""
    summary: dict[str, dict[str, Any]] = {}
    for method in rounds[0]:
        got = [r[method] for r in rounds]
        wall = statistics.median(g["wall_s"] for g in got)
        rows = statistics.median(g.get("rows", 0) for g in got)
        summary[method] = {
            "wall_s": round(wall, 3),
            "process_wall_s": round(statistics.median(g["process_wall_s"] for g in got), 3),
            "cpu_s": round(statistics.median(g["cpu_s"] for g in got), 3),
            "rows": int(rows),
            "rows_per_s": int(rows / wall) if wall else 0,
            "peak_rss_mib": round(statistics.median(g["peak_rss_mib"] for g in got), 1),
        }
        if "copy" in rounds[0]:
            summary[method]["x_copy"] = round(statistics.median(
                g["wall_s"] / r["copy"]["wall_s"] for g, r in zip(got, rounds, strict=True)), 2)
        for kind in ("stages", "stages_cpu"):
            if got[0].get(kind):
                summary[method][kind] = {
                    s: round(statistics.median(g[kind].get(s, 0.0) for g in got), 3) for s in got[0][kind]
                }
        if "extract_child_peak_rss_mib" in got[0]:
            summary[method]["extract_child_peak_rss_mib"] = max(g["extract_child_peak_rss_mib"] for g in got)
        if method != "copy":
            for peer in ("dlt_replace", "ours_baseline"):
                if peer in rounds[0] and method != peer:
                    summary[method][f"x_{peer}_cpu"] = round(statistics.median(
                        g["cpu_s"] / r[peer]["cpu_s"] for g, r in zip(got, rounds, strict=True)), 2)
                    summary[method][f"x_{peer}_wall"] = round(statistics.median(
                        g["wall_s"] / r[peer]["wall_s"] for g, r in zip(got, rounds, strict=True)), 2)
        if method == "ours" and "ours_baseline" in rounds[0]:
            # Paired: each round's difference to the baseline run beside it. On a noisy machine the
            # medians of two columns can disagree with most rounds; the pairs say how often it won.
            summary[method]["minus_baseline_wall_s"] = [
                round(g["wall_s"] - r["ours_baseline"]["wall_s"], 2) for g, r in zip(got, rounds, strict=True)
            ]
            summary[method]["minus_baseline_cpu_s"] = [
                round(g["cpu_s"] - r["ours_baseline"]["cpu_s"], 2) for g, r in zip(got, rounds, strict=True)
            ]
        if method == "night":
            summary[method]["valid"] = all(g["valid"] for g in got)
            summary[method]["share_of_full_sync_wall"] = statistics.median(g["share_of_full_sync_wall"] for g in got)
            summary[method]["share_of_full_sync_cpu"] = statistics.median(g["share_of_full_sync_cpu"] for g in got)
    return summary


LABELS = {
    "copy": "COPY (FORMAT binary) to nowhere",
    "ours": "our full sync (load_table, no Dagster)",
    "ours_baseline": "  the same, baseline checkout (--baseline)",
    "ours_no_validation": "  the same, validation off",
    "ours_no_linking": "  the same, linking off",
    "ours_jemalloc_decay0": "  the same, Polars' jemalloc decay 0 (_RJEM_MALLOC_CONF)",
    "dlt_replace": "dlt sql_table (connectorx) → Delta, replace",
    "dlt_merge": "dlt sql_table (connectorx) → Delta, merge on the key",
    "night": "incremental night (1% upd, 1% ins, 0.1% del)",
    "query": "analyst group-by over silver (ndc sql session)",
}


def markdown(summary: dict[str, dict[str, Any]], rows: int, rounds: int) -> str:
    lines = [
        f"{rows:,}-row `cong_dan`, {rounds} round(s), medians; × COPY = median of per-round ratios of wall",
        "",
        "| method | wall s | × COPY | CPU s | × dlt replace CPU | × dlt replace wall | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, label in LABELS.items():
        if method not in summary:
            continue
        s = summary[method]
        x_copy = f"{s['x_copy']:.1f}" if "x_copy" in s else "—"
        x_dlt = (f"{s['x_dlt_replace_cpu']:.2f} | {s['x_dlt_replace_wall']:.2f}"
                 if "x_dlt_replace_cpu" in s else "— | —")
        lines.append(f"| {label} | {s['wall_s']:.2f} | {x_copy} | {s['cpu_s']:.2f} | {x_dlt} | "
                     f"{s['rows_per_s']:,} | {s['peak_rss_mib']:,.0f} |")
    night = summary.get("night")
    if night:
        lines += ["", f"night: {'valid' if night['valid'] else 'VOID (silver differs from the source)'}; "
                  f"{night['share_of_full_sync_wall']:.0%} of the same round's full sync wall, "
                  f"{night['share_of_full_sync_cpu']:.0%} of its CPU"]
    ours = summary.get("ours", {})
    if "minus_baseline_wall_s" in ours:
        walls, cpus = ours["minus_baseline_wall_s"], ours["minus_baseline_cpu_s"]
        lines += ["", f"ours − baseline, round by round: wall {', '.join(f'{d:+.2f}' for d in walls)} s "
                  f"(median {statistics.median(walls):+.2f}; faster in {sum(d < 0 for d in walls)} of {len(walls)}); "
                  f"CPU {', '.join(f'{d:+.2f}' for d in cpus)} s (median {statistics.median(cpus):+.2f})"]
    for method in ("ours", "ours_baseline", "ours_jemalloc_decay0", "night"):
        for kind, unit in (("stages", "wall s"), ("stages_cpu", "CPU s")):
            if method in summary and kind in summary[method]:
                stages = ", ".join(f"{k} {v:.2f}" for k, v in summary[method][kind].items())
                lines += ["", f"stages of `{method}` ({unit}, medians): {stages}"]
        if "extract_child_peak_rss_mib" in summary.get(method, {}):
            lines += ["", f"`{method}`: extraction child's peak RSS {summary[method]['extract_child_peak_rss_mib']:.0f} MiB "
                      "(a process of its own, beside the load's peak above)"]
    return "\n".join(lines)


def profile(src: source.Source, work: Path, timeout_s: float) -> int:
    """One full sync of our own under pyinstrument (a sampling profiler: the figures are where the
    time goes, not how long it takes); the report lands next to the results."""
    folder = work / "profile"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    report = work / f"profile-{src.rows}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    arguments = {"url": src.url, "table": source.TABLE, "rows": src.rows, "warehouse": str(folder / "wh")}
    subprocess.run(
        [sys.executable, "-m", "pyinstrument", "-r", "text", "--show-all", "-o", str(report),
         "-m", "bench.methods", "ours", json.dumps(arguments)],
        check=True, timeout=timeout_s,
    )
    shutil.rmtree(folder, ignore_errors=True)
    print(f"profile written: {report}")
    return 0


def arguments_problem(methods: tuple[str, ...], *, profile: bool, baseline: Path | None) -> str | None:
    """What is wrong with the methods, the profile or the baseline asked for, in one sentence that
    says what to do; None when the run can start."""
    if unknown := [m for m in methods if m not in METHODS]:
        return f"unknown method(s) {', '.join(unknown)}: --methods takes a comma-separated choice of {', '.join(METHODS)}"
    if not methods and not profile and baseline is None:
        return "--methods names no method"
    # --profile runs one sync of our own under pyinstrument instead of the methods.
    needed = {"pyinstrument"} if profile else {GROUP_MODULES[m] for m in methods if m in GROUP_MODULES}
    if missing := sorted(m for m in needed if importlib.util.find_spec(m) is None):
        rest = [m for m in methods if m not in GROUP_MODULES]
        return (
            f"{', '.join(missing)} not installed: the benchmark's own dependencies are the `bench` group; "
            "run `uv run --group bench python -m bench …`"
            + (f", or leave out the dlt methods (--methods {','.join(rest)})" if rest and not profile else "")
        )
    if baseline is not None and not (baseline / "pipeline" / "load.py").is_file():
        return f"--baseline {baseline}: not a checkout of this repository (no pipeline/load.py in it); make one with `git worktree add --detach /tmp/base <commit>`"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="citizens generated (the table has ~2%% more rows)")
    parser.add_argument("--ten-million", action="store_true", help="10,000,000 citizens")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(".ndc/bench"), help="server, warehouses, results")
    parser.add_argument("--reuse-table", action="store_true", help="keep the table from the last run of the same --rows")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one method may take")
    parser.add_argument("--seed", type=int, default=14, help="the shuffles' seed")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated methods to run (default: all); `night` runs its own full sync")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout of this repository: its full sync runs as `ours_baseline` in every round")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the rounds: one full sync under pyinstrument (text report in --work)")
    args = parser.parse_args(argv)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if problem := arguments_problem(methods, profile=args.profile, baseline=args.baseline):
        parser.error(problem)  # before a table is made: a missing module would fail rounds later
    citizens = 10_000_000 if args.ten_million else args.rows
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    server = source.start_server(work / "postgres")
    marker = work / "table.json"
    previous = json.loads(marker.read_text()) if marker.exists() else {}
    if args.reuse_table and previous.get("citizens") == citizens:
        rows = previous["rows"]
        print(f"reusing {source.TABLE}: {rows:,} rows", flush=True)
    else:
        started = time.perf_counter()
        print(f"{source.TABLE}: generating {citizens:,} citizens into PostgreSQL (~11 s a million on 2 cores)", flush=True)
        rows = source.make_table(server, citizens)
        marker.write_text(json.dumps({"citizens": citizens, "rows": rows}))
        print(f"{source.TABLE}: {rows:,} rows written in {time.perf_counter() - started:.0f}s", flush=True)
    src = source.Source(
        admin_url=f"host={server.socket_dir} port={server.port} user=postgres dbname={source.DATABASE}",
        url=server.url(source.DATABASE), rows=rows,
    )
    if args.profile:
        return profile(src, work, args.timeout)
    rounds = []
    out = work / f"results-{rows}-{time.strftime('%Y%m%dT%H%M%S')}"
    baseline = args.baseline.resolve() if args.baseline else None
    for number in range(1, args.rounds + 1):
        rounds.append(one_round(number, server, src, work, args.timeout, args.seed, methods, baseline))
        # Written after every round: a run cut short still leaves the rounds it finished.
        summary = summarise(rounds)
        table = markdown(summary, rows, len(rounds))
        out.with_suffix(".json").write_text(json.dumps(
            {"rows": rows, "rounds": rounds, "summary": summary, "argv": sys.argv[1:]}, indent=1, default=str))
        out.with_suffix(".md").write_text(table + "\n")
    print("\n" + table + f"\n\n(written: {out}.json and .md)")
    return 0
