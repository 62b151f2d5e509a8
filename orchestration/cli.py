"""`ndc`: the command line of NDC Pipelines (demo, tables, sql, storage)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table as RichTable

from warehouse.storage import project_root

console = Console(stderr=True)
out = Console()


def local_state() -> Path:
    """Where `ndc demo` keeps its generated sources, warehouse and Dagster home (git-ignored)."""
    return project_root() / ".ndc"


def use_local_defaults() -> None:
    """Embedded defaults: every setting has a local value unless the environment gives one."""
    state = local_state()
    os.environ.setdefault("NDC_DEMO_DIR", str(state / "demo"))
    # No pseudonym key is defaulted here: without one, gold uses the demo key only in the demo's
    # own (marked, local) warehouse and refuses everywhere else (pipeline.gold.pseudonym_key).
    os.environ.setdefault("DAGSTER_HOME", str(state / "dagster"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # pool limits and settings for the local instance
        shutil.copyfile(project_root() / "dagster.yaml", home / "dagster.yaml")


@click.group()
def main() -> None:
    """NDC Pipelines: ministry sources → Great Expectations → Polars → Delta Lake."""


@main.command()
@click.option(
    "--citizens", default=100_000, show_default=True, help="People in the demo population register."
)
@click.option("--seed", default=6, show_default=True, help="Seed of the deterministic generator.")
@click.option("--reuse-sources", is_flag=True, help="Keep already generated sources instead of regenerating.")
@click.option(
    "--backend",
    type=click.Choice(["embedded", "postgres", "mariadb"]),
    default="embedded",
    show_default=True,
    help="Where the SQL sources live: the embedded SQLite files, or a local PostgreSQL / MariaDB server loaded with them.",
)
def demo(citizens: int, seed: int, reuse_sources: bool, backend: str) -> None:
    """Generate five demo ministries and run the nightly_sync job on them, in-process."""
    use_local_defaults()
    demo_dir = Path(os.environ["NDC_DEMO_DIR"])
    started = time.perf_counter()
    reset_demo_warehouse_if_changed(citizens, seed)
    if not (reuse_sources and (demo_dir / "population.sqlite").exists()):
        from demo.generator import generate

        with console.status("generating demo sources…") as status:
            generated = generate(demo_dir, citizens=citizens, seed=seed, progress=lambda m: status.update(m))
        console.print(
            f"[green]✓[/] generated {sum(generated.tables.values()):,} source rows for {generated.people:,} people "
            f"in {demo_dir} ({time.perf_counter() - started:.1f}s)"
        )
    if backend != "embedded":
        from demo.backends import prepare_backend
        from demo.servers import ServerError

        try:
            with console.status(f"loading the demo sources into {backend}…"):
                source_urls = prepare_backend(backend, demo_dir, local_state() / "servers" / backend)
        except ServerError as error:
            raise click.ClickException(str(error)) from None
        os.environ.update(source_urls)  # NDC_<SOURCE>_URL: the values hold the password, never print them
        console.print(f"[green]✓[/] SQL sources served by local {backend} ({', '.join(sorted(source_urls))})")
    from orchestration.runs import full_refresh_config, latest_partition_tags

    result, run_id = run_job("nightly_sync", run_config=full_refresh_config(), tags=latest_partition_tags())
    summary(run_id, result)
    console.print(f"done in {time.perf_counter() - started:.0f}s")
    if not result.success:
        sys.exit(1)


@main.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Backfill from this day (inclusive).")
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), help="...to this day (exclusive). Default: today."
)
@click.option(
    "--full-refresh", is_flag=True, help="Read every row again (MERGE keeps silver free of duplicates)."
)
@click.option("--table", "tables", multiple=True, help="Only these tables (source.table); repeatable.")
def sync(since, until, full_refresh: bool, tables: tuple[str, ...]) -> None:
    """Run nightly_sync now: yesterday's partition by default, or a backfill of days as one run."""
    use_local_defaults()
    import datetime as dt

    from assets.partitions import DAILY, range_tags
    from catalogue import load_catalogue

    catalogue = load_catalogue()
    chosen = [catalogue.table(t) for t in tables] if tables else catalogue.tables
    last = DAILY.get_last_partition_key()
    if since is None and not full_refresh:
        first = last
    else:
        first = since.date().isoformat() if since else None
        if until is not None:
            last = (until.date() - dt.timedelta(days=1)).isoformat()
    if first is not None and first > last:
        raise click.ClickException(f"--since {first} is not before --until: no day to load")
    config = {"full_refresh": full_refresh}
    run_config = {"ops": {f"load_{ref.domain}__{ref.table.name}": {"config": config} for ref in chosen}}
    started = time.perf_counter()
    result, run_id = run_job(
        "nightly_sync",
        run_config=run_config,
        tags=range_tags(first, last),
        only=[ref.key for ref in chosen] if tables else None,
    )
    summary(run_id, result)
    console.print(f"done in {time.perf_counter() - started:.0f}s")
    if not result.success:
        sys.exit(1)


def reset_demo_warehouse_if_changed(citizens: int, seed: int) -> None:
    """A local demo warehouse holds one demo population: another size or seed starts it afresh.

    Only the embedded default warehouse is ever reset; one named by NDC_WAREHOUSE_URI is left alone.
    """
    from warehouse.storage import StorageSettings, default_warehouse_uri

    stamp, wanted = local_state() / "demo-warehouse.json", {"citizens": citizens, "seed": seed}
    settings = StorageSettings.from_env()
    if settings.warehouse_uri != default_warehouse_uri():
        return
    previous = json.loads(stamp.read_text()) if stamp.exists() else None
    warehouse = Path(settings.warehouse_uri)
    if previous != wanted and warehouse.exists():
        console.print(
            f"[yellow]the demo changed ({previous} → {wanted}): starting a fresh warehouse in {warehouse}[/]"
        )
        shutil.rmtree(warehouse)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(wanted))


def run_job(
    name: str,
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    only: list[str] | None = None,
):
    """Run a job of the Definitions in this process, on the persistent Dagster instance."""
    import dagster as dg

    handler = RichHandler(console=console, show_path=False, show_level=False, markup=False)
    pipeline_log = logging.getLogger("ndc.pipeline")
    pipeline_log.addHandler(handler)
    pipeline_log.setLevel(logging.INFO)
    with console.status("loading definitions…"):
        from orchestration.definitions import defs

        job = defs.resolve_job_def(name)
    console.print(f"running [bold]{name}[/] (DAGSTER_HOME={os.environ.get('DAGSTER_HOME')})")
    with dg.DagsterInstance.get() as instance:
        selection = None
        if only is not None:  # the chosen tables' loads, without gold (it needs every table)
            selection = [
                dg.AssetKey([layer, *key.split(".")])
                for key in only
                for layer in ("bronze", "quarantine", "silver")
            ]
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=selection,
            tags=tags,
            run_config={**(run_config or {}), "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    pipeline_log.removeHandler(handler)
    return result, result.run_id


def summary(run_id: str, result) -> None:
    from pipeline.load import LOADS
    from warehouse.tables import Warehouse

    warehouse = Warehouse.from_env()
    checks: dict[str, list[bool]] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            key = "/".join(evaluation.asset_key.path)
            checks.setdefault(key, []).append(evaluation.passed)
    table = RichTable(title=f"nightly_sync {run_id[:8]}")
    for column in (
        "source table",
        "extracted",
        "landed",
        "quarantined",
        "deduplicated",
        "linked",
        "balanced",
        "checks passed",
    ):
        table.add_column(column, justify="left" if column == "source table" else "right")
    if warehouse.exists(LOADS):
        import polars as pl

        loads = warehouse.read(LOADS).filter(pl.col("_run_id") == run_id).sort("source", "table")
        for row in loads.iter_rows(named=True):
            passed = checks.get(f"silver/{row['source']}/{row['table']}", [])
            table.add_row(
                f"{row['source']}.{row['table']}",
                f"{row['extracted']:,}",
                f"{row['landed']:,}",
                f"{row['quarantined']:,}",
                f"{row['deduplicated']:,}",
                f"{row['linked']:,}",
                "[green]yes[/]" if row["balanced"] else "[red]NO[/]",
                f"{sum(passed)}/{len(passed)}",
            )
    out.print(table)
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            cause = error.cause or error
            message = (cause.message or error.message).strip().splitlines()[0]
            out.print(f"[red]step failed:[/] {event.step_key}: {message}")
    out.print(f"warehouse: {warehouse.settings.warehouse_uri}")
    out.print(
        'next: [bold]uv run ndc tables[/] · [bold]uv run ndc sql "SELECT * FROM gold.kpi.linkage_by_province LIMIT 10"[/]'
        " · [bold]uv run dagster dev[/] (then open http://127.0.0.1:3000)"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tables(as_json: bool) -> None:
    """List the warehouse's Delta tables: name, URI, rows, version, last update.

    Zones the storage credentials cannot read (a gold-only key) are skipped with one line.
    """
    use_local_defaults()
    from warehouse.catalog import table_infos

    listing = table_infos()
    infos = listing.infos
    if note := listing.discovery.note():
        console.print(f"[yellow]{note}[/]")
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "uri": i.uri,
                        "rows": i.rows,
                        "version": i.version,
                        "updated_at": i.updated_at.isoformat() if i.updated_at else None,
                    }
                    for i in infos
                ]
            )
        )
        return
    table = RichTable()
    for column in ("name", "rows", "version", "updated", "uri"):
        table.add_column(column, justify="right" if column in ("rows", "version") else "left")
    for i in infos:
        table.add_row(
            i.name,
            f"{i.rows:,}",
            str(i.version),
            f"{i.updated_at:%Y-%m-%d %H:%M:%S}" if i.updated_at else "",
            i.uri,
        )
    out.print(table)


@main.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table: print up to --limit rows. csv / json: export every row to stdout (audited as an export). "
    "CSV joins lists with '|' and prefixes cells starting with = + - @ tab or CR with ' (no formulas in Excel).",
)
@click.option("--limit", default=1000, show_default=True, help="Most rows printed in table format.")
@click.option(
    "--role",
    type=click.Choice(["analyst", "restricted"]),
    envvar="NDC_SQL_ROLE",
    default="analyst",
    show_default=True,
    help="analyst: gold only. restricted: also bronze, silver, quarantine and ops (raw personal data). "
    "Env: NDC_SQL_ROLE.",
)
def sql(query: str, fmt: str, limit: int, role: str) -> None:
    """Run one read-only SELECT over the warehouse, tables named layer.domain.table (DuckDB).

    Every query, refused ones too, is recorded in the audit trail (`ndc audit`) before any
    result is shown; NDC_ANALYST names the person when the OS account is shared.
    """
    use_local_defaults()
    from catalogue import load_catalogue
    from pipeline.gold import GOLD_PERSONAL_DATA
    from warehouse import audit
    from warehouse.sql import SqlError, SqlRefused, parse_role, run_sql, to_csv
    from warehouse.storage import StorageSettings

    settings = StorageSettings.from_env()
    output = "table" if fmt == "table" else f"export:{fmt}"

    def record(outcome: audit.Outcome, **facts) -> None:
        try:
            audit.append(
                settings, audit.AuditRecord(query=query, role=role, output=output, outcome=outcome, **facts)
            )
        except audit.AuditError as error:
            raise click.ClickException(str(error)) from None

    try:
        result = run_sql(query, settings, parse_role(role))
    except SqlRefused as error:
        record("refused", reason=str(error))
        raise click.ClickException(f"refused: {error}") from None
    except SqlError as error:
        record("error", reason=str(error).splitlines()[0])
        raise click.ClickException(str(error)) from None
    touched = [str(t) for t in result.tables]
    classes = audit.personal_data_classes(load_catalogue(), GOLD_PERSONAL_DATA)
    personal = audit.personal_columns_touched(touched, result.columns_read, classes)
    frame = result.frame
    record("ok", tables=tuple(touched), personal_columns=tuple(personal), rows=frame.height)
    if result.discovery is not None and (note := result.discovery.note()):
        console.print(f"[yellow]{note}[/]")
    if fmt == "csv":
        sys.stdout.write(to_csv(frame))
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        import polars as pl

        with pl.Config(tbl_rows=limit, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            out.print(str(frame), soft_wrap=True)


@main.command(name="audit")
@click.option(
    "--since", help="Only records from then on: 7d, 12h, 30m, or a date/time (UTC) like 2026-11-01."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def audit_trail(since: str | None, as_json: bool) -> None:
    """Show the audit trail of `ndc sql`: who ran what, when, on which tables and personal data.

    The trail lives in the restricted zone (ops.audit.queries, or NDC_AUDIT_URI): reading it needs
    credentials for that zone.
    """
    use_local_defaults()
    from rich.markup import escape

    from warehouse import audit
    from warehouse.storage import StorageSettings

    try:
        start = audit.parse_since(since) if since else None
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    try:
        trail = audit.read_audit(StorageSettings.from_env(), since=start)
    except Exception as error:  # storage refusals come in many types: one line each
        raise click.ClickException(f"the audit trail cannot be read: {str(error).splitlines()[0]}") from None
    if as_json:
        rows = [{**row, "at": row["at"].isoformat()} for row in trail.iter_rows(named=True)]
        out.print_json(json.dumps(rows))
        return
    # One block per record: queries are long, and a table would cut them at the terminal's width.
    out.print(f"ndc sql audit trail: {trail.height:,} records", highlight=False)
    for row in trail.iter_rows(named=True):
        who = row["os_user"] + (f" ({row['analyst']})" if row["analyst"] else "")
        rows = "" if row["rows"] is None else f" · {row['rows']:,} rows"
        outcome = row["outcome"] if row["outcome"] == "ok" else f"[red]{row['outcome']}[/]"
        head = f"{row['at']:%Y-%m-%d %H:%M:%S} UTC · {escape(who)} · {row['role']} · {row['output']}"
        out.print(f"{head} · {outcome}{rows}", highlight=False)
        for label, value in (
            ("tables", ", ".join(row["tables"] or [])),
            ("personal data", ", ".join(row["personal_columns"] or [])),
            ("query", row["query"]),
            ("reason", row["reason"] or ""),
        ):
            if value:
                out.print(f"  {label}: {value}", markup=False, highlight=False, soft_wrap=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def score(as_json: bool) -> None:
    """Score the last demo run against the generator's ground truth: quarantine and linkage."""
    use_local_defaults()
    from catalogue import load_catalogue
    from demo.score import score as score_tables
    from warehouse.tables import Warehouse

    scores = score_tables(load_catalogue(), Warehouse.from_env(), Path(os.environ["NDC_DEMO_DIR"]))
    if not scores:
        raise click.ClickException("no ground truth found: run `ndc demo` first")
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        **{k: v for k, v in vars(s).items()},
                        "precision": s.precision,
                        "recall": s.recall,
                        "link_rate": s.link_rate,
                    }
                    for s in scores
                ]
            )
        )
        return
    table = RichTable(title="quarantine and linkage against the ground truth")
    for column in (
        "table",
        "rows",
        "should quarantine",
        "quarantined",
        "precision",
        "recall",
        "linkable",
        "linked right",
        "linked WRONG",
        "unlinked",
        "values = truth",
        "split wards flagged",
    ):
        table.add_column(column, justify="left" if column == "table" else "right")
    for s in scores:
        table.add_row(
            s.table,
            f"{s.rows:,}",
            f"{s.should_quarantine:,}",
            f"{s.quarantined:,}",
            f"{s.precision:.2%}",
            f"{s.recall:.2%}",
            f"{s.linkable:,}",
            f"{s.linked_right:,}",
            f"[red]{s.linked_wrong:,}[/]" if s.linked_wrong else "0",
            f"{s.unlinked:,}",
            f"{min(s.value_accuracy.values()):.2%}" if s.value_accuracy else "",
            f"{s.split_wards_flagged:,}/{s.split_wards:,}" if s.split_wards else "",
        )
    out.print(table)
    for s in scores:
        for column, share in s.value_accuracy.items():
            if share < 1:
                out.print(f"  {s.table}: {column} equals the truth in {share:.2%} of landed rows")
    missed = {(s.table, d): r for s in scores for d, r in s.defect_recall.items() if r < 1}
    for (name, defect), rate in sorted(missed.items()):
        out.print(f"  {name}: defect {defect} quarantined in {rate:.1%} of rows that have it")


@main.command()
@click.option("--connect", is_flag=True, help="Also reach every source: log in and read one row of each table.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: a list of findings.")
def check(connect: bool, as_json: bool) -> None:
    """Check the catalogue, mappings and suites (every rule compiles) before any load; exit 1 on an error."""
    use_local_defaults()
    from catalogue.check import check_catalogue, connection_findings, errors

    with console.status("checking the catalogue and compiling every suite…"):
        catalogue, findings = check_catalogue()
    if connect and catalogue is not None:
        with console.status("reaching every source…"):
            findings += list(connection_findings(catalogue))
    if as_json:
        sys.stdout.write(json.dumps([finding.as_dict() for finding in findings], indent=2) + "\n")
    else:
        for finding in findings:
            click.echo(finding.line())
        tables = len(catalogue.tables) if catalogue is not None else 0
        verdict = f"{len(errors(findings))} error(s)" if errors(findings) else "no errors"
        console.print(f"{verdict}; {tables} table(s) checked" + ("" if connect else " (add --connect to reach the sources)"))
    if errors(findings):
        sys.exit(1)


def _attach_storage() -> None:
    try:
        from orchestration.storage_cli import storage
    except ImportError:  # storage commands land with the S3 work
        return
    main.add_command(storage)


_attach_storage()

if __name__ == "__main__":
    main()
