"""One measured method, run in its own process by the harness (bench/harness.py):

    python -m bench.methods <method> '<json arguments>'

prints one JSON line: rows, wall seconds of the work itself (imports and start-up excluded), CPU
seconds of this process (every thread), peak RSS in MiB (VmHWM), and what the method adds
(our sync's stage seconds, the night's correctness check). Methods: copy, ours, dlt, night, query.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TODAY = dt.date(2026, 11, 1)  # the demo's run date: the suite's "not in the future" rules use it


def _cpu() -> float:
    """This process's CPU seconds and those of its children that have ended (our extraction
    reads in a child process, connectors/isolated.py; dlt reads in-process): each method is
    charged all the CPU it caused on this machine (the database server's excepted)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _ChildPeak:
    """The extraction child's peak RSS, from the record connectors/isolated.py logs at its end."""

    def __init__(self) -> None:
        import logging

        self.kib = 0
        handler = logging.Handler()
        handler.emit = self._emit  # type: ignore[method-assign]
        logger = logging.getLogger("ndc.connectors")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)

    def _emit(self, record) -> None:
        self.kib = max(self.kib, int(getattr(record, "child_peak_rss_kib", 0) or 0))

    @property
    def mib(self) -> float:
        return round(self.kib / 1024, 1)


def measured(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), _cpu()
    result = work()
    return {
        **result,
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(_cpu() - cpu, 3),
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: on Linux that keeps the high
    mark from before exec, i.e. the forking harness's own size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # not Linux


def copy_out(args: dict[str, Any]) -> dict[str, Any]:
    """COPY (FORMAT binary) of the whole table, read and dropped: the physical limit of reading it."""
    import psycopg

    def work() -> dict[str, Any]:
        size = 0
        with (
            psycopg.connect(args["url"]) as connection,
            connection.cursor() as cursor,
            cursor.copy(f"COPY {args['table']} TO STDOUT (FORMAT binary)") as copy,
        ):
            for block in copy:
                size += len(block)
        return {"rows": args["rows"], "bytes": size}

    return measured(work)


def citizens_ref(table: str):
    """The shipped catalogue's population.citizens, reading `table` on the bench server."""
    from catalogue import load_catalogue
    from catalogue.loader import TableRef
    from catalogue.models import Connection, Source

    shipped = load_catalogue().table("population.citizens")
    mapped = shipped.table.model_copy(update={"table": table})
    source = Source(
        name="population",
        ministry=shipped.source.ministry,
        connection=Connection(kind="postgres", url="${NDC_BENCH_URL}"),
        tables=[mapped],
    )
    return TableRef(source=source, table=mapped, entity=shipped.entity)


def _warm_imports() -> None:
    """What a sync process (Dagster's) imports once for all its tables stays outside a table's
    figure. Not Great Expectations: a load never imports it (tests/test_load_imports.py), so
    warming it here would add its ~150 MiB to our peak, which no real load has. The SQL login's
    driver is one of the modules the step processes' forkserver preloads (orchestration/definitions.py)."""
    import psycopg  # noqa: F401

    import quality.compile  # noqa: F401


def ours(args: dict[str, Any]) -> dict[str, Any]:
    """Our full sync of population.citizens into a fresh warehouse (load_table, no Dagster)."""
    from pipeline.load import load_table
    from warehouse.storage import StorageSettings
    from warehouse.tables import Warehouse

    os.environ["NDC_BENCH_URL"] = args["url"]
    ref = citizens_ref(args["table"])
    warehouse = Warehouse(StorageSettings(warehouse_uri=args["warehouse"]))
    _warm_imports()
    child = _ChildPeak()

    def work() -> dict[str, Any]:
        report = load_table(
            ref, warehouse, run_id=args.get("run_id", "full"), today=TODAY, full_refresh=True,
            validate=args.get("validate", True), link=args.get("link", True),
        )
        assert report.balanced, "the load does not balance"
        return {
            "rows": report.extracted, "landed": report.landed, "stages": report.stages,
            "stages_cpu": getattr(report, "stages_cpu", {}), "extract_child_peak_rss_mib": child.mib,
        }

    return measured(work)


def night(args: dict[str, Any]) -> dict[str, Any]:
    """Our normal incremental sync after the night's changes (bench/source.py: night_changes);
    `valid` says whether silver then equals the changed source (every update, insert and delete
    in, nothing else changed)."""
    import polars as pl

    from pipeline.load import load_table
    from pipeline.names import DELETED, LoadNames
    from warehouse.storage import StorageSettings
    from warehouse.tables import Warehouse

    os.environ["NDC_BENCH_URL"] = args["url"]
    ref = citizens_ref(args["table"])
    warehouse = Warehouse(StorageSettings(warehouse_uri=args["warehouse"]))
    silver = LoadNames.of(ref).silver
    compared = ["personal_id", "full_name", DELETED]
    before = warehouse.read(silver).select(compared)
    _warm_imports()

    def work() -> dict[str, Any]:
        report = load_table(ref, warehouse, run_id="night", today=TODAY)
        assert report.balanced, "the load does not balance"
        return {"rows": report.extracted, "deleted": report.deleted, "stages": report.stages}

    result = measured(work)
    # What the night's MERGE touched, from delta-rs's own metrics in silver's newest commit.
    last = warehouse.table(silver).history(1)[0]
    result["silver_commit"] = {"operation": last.get("operation"), **{
        k: v for k, v in (last.get("operationMetrics") or {}).items()
        if k.startswith(("num_target_files", "num_target_rows", "num_source_rows"))
    }}
    after = warehouse.read(silver).select(compared)
    changes = args["changes"]
    updated, inserted, deleted = (set(changes[k]) for k in ("updated", "inserted", "deleted"))
    expected = (
        before.with_columns(
            pl.when(pl.col("personal_id").is_in(list(updated)))
            .then(pl.col("full_name") + changes["new_name_suffix"])
            .otherwise(pl.col("full_name")),
            (pl.col(DELETED).fill_null(False) | pl.col("personal_id").is_in(list(deleted))).alias(DELETED),
        )
    )
    new_rows = after.filter(pl.col("personal_id").is_in(list(inserted)))
    old_rows = after.filter(~pl.col("personal_id").is_in(list(inserted))).with_columns(pl.col(DELETED).fill_null(False))
    same = expected.sort("personal_id").equals(old_rows.sort("personal_id"))
    all_new = new_rows.height == len(inserted) and not new_rows[DELETED].fill_null(False).any()
    result["valid"] = bool(same and all_new)
    result["check"] = {"old_rows_as_expected": same, "inserted_live": new_rows.height, "inserted": len(inserted)}
    return result


def dlt_load(args: dict[str, Any]) -> dict[str, Any]:
    """dlt: `sql_table` with the connectorx backend into a Delta table (filesystem destination)
    on the same disk; `replace`, or `merge` on the key."""
    import dlt
    from dlt.sources.sql_database import sql_table

    os.environ["DLT_DATA_DIR"] = args["workdir"]
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"

    def work() -> dict[str, Any]:
        disposition = args["disposition"]
        resource = sql_table(credentials=args["url"], table=args["table"], backend="connectorx")
        if disposition == "merge":
            resource.apply_hints(primary_key="so_dinh_danh", write_disposition="merge")
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{disposition}",
            pipelines_dir=args["workdir"],
            destination=dlt.destinations.filesystem(bucket_url=Path(args["warehouse"]).as_uri()),
            dataset_name="population",
        )
        info = pipeline.run(resource, write_disposition=disposition, table_format="delta")
        info.raise_on_failed_jobs()
        rows = pipeline.last_trace.last_normalize_info.row_counts.get(args["table"], 0)
        return {"rows": rows}

    return measured(work)


def query(args: dict[str, Any]) -> dict[str, Any]:
    """The analyst's group-by over silver through `ndc sql`'s own session (warehouse/sql.py),
    timed in-process: the session's start-up is outside the figure."""
    from warehouse.sql import run_sql
    from warehouse.storage import StorageSettings

    settings = StorageSettings(warehouse_uri=args["warehouse"])
    sql = (
        "SELECT birth_province_2025, sex, count(*) AS people FROM silver.population.citizens "
        "WHERE NOT coalesce(_deleted, false) GROUP BY ALL ORDER BY ALL"
    )
    run_sql("SELECT 1 FROM silver.population.citizens LIMIT 1", settings, role="restricted")  # warm: imports

    def work() -> dict[str, Any]:
        result = run_sql(sql, settings, role="restricted")
        return {"rows": args["rows"], "groups": result.frame.height}

    return measured(work)


METHODS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "copy": copy_out, "ours": ours, "night": night, "dlt": dlt_load, "query": query,
}


def main() -> None:
    """`python -m bench.methods METHOD ARGS`: ARGS as JSON, or `-` to read it from stdin (a night's
    change lists at 1M rows are longer than one command-line argument may be)."""
    method, text = sys.argv[1], sys.argv[2]
    arguments = json.loads(sys.stdin.read() if text == "-" else text)
    result = METHODS[method](arguments)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
