"""`ndc`: the command line of NDC Pipelines (demo, sync, tables, sql, score, storage).

Every mistake a user can fix (an argument, the catalogue, a storage setting, a source, a failed
run) ends as `error: <one line>` on stderr and a non-zero exit (2 for the command line, 1 for the
rest), through NdcGroup and orchestration.errors; `ndc --debug` shows tracebacks instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table as RichTable

from orchestration.docs_cli import docs
from orchestration.errors import RunFailed, error_lines
from warehouse.storage import project_root

console = Console(stderr=True)
out = Console()
PIPED_WIDTH = 10_000  # piped output is never cut to a terminal's width: each row stays one line


def stdout_console() -> Console:
    """Rich output for stdout: the terminal's width there, unlimited width when piped."""
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)


def local_state() -> Path:
    """Where `ndc demo` keeps its generated sources, warehouse and Dagster home (git-ignored)."""
    return project_root() / ".ndc"


def set_local_defaults() -> None:
    """Embedded defaults: every setting has a local value unless the environment gives one.

    Only the environment changes here: arguments are checked after it, before any file is written.
    """
    state = local_state()
    os.environ.setdefault("NDC_DEMO_DIR", str(state / "demo"))
    # No pseudonym key is defaulted here: without one, gold uses the demo key only in the demo's
    # own (marked, local) warehouse and refuses everywhere else (pipeline.gold.pseudonym_key).
    os.environ.setdefault("DAGSTER_HOME", str(state / "dagster"))


def use_local_defaults(*, gold_only: bool = False) -> None:
    """The local defaults, Dagster's home ready, and the warehouse storage reachable.

    An S3 warehouse is checked once here (keys set, endpoint answering, bucket there) so that a
    wrong setting is one line naming it, not a retried write deep in a run. Commands that read
    what the key allows (`tables`, `sql`, `audit`) need only gold's bucket: an analyst's key may
    reach nothing else, and they name the zones they could not read.
    """
    set_local_defaults()
    from warehouse.s3 import check
    from warehouse.storage import StorageSettings

    check(StorageSettings.from_env(), gold_only=gold_only)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # pool limits and settings for the local instance
        shutil.copyfile(project_root() / "dagster.yaml", home / "dagster.yaml")


class OneLineError(click.ClickException):
    """What the user sees of a known error: `error: <line>` per line on stderr, and the exit code."""

    def __init__(self, lines: Sequence[str], exit_code: int) -> None:
        super().__init__("; ".join(lines))
        self.lines = list(lines)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"error: {line}", err=True)


class FullHelpGroup(click.Group):
    """A group whose --help lists each command's whole first sentence, wrapped, never cut at `...`."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class NdcGroup(FullHelpGroup):
    """The `ndc` group: full command descriptions in --help, and known errors as one line each."""

    debug = False  # `ndc --debug`: tracebacks and Dagster's own log, for reporting a bug

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OneLineError:
            raise
        except click.UsageError as error:
            raise self._one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OneLineError, click.exceptions.Exit, click.exceptions.Abort):
            raise  # already one line, or --help / --version / ctrl-C: click's own way out
        except click.ClickException as error:
            raise self._one_line(error) from None
        except Exception as error:
            known = None if NdcGroup.debug else error_lines(error)
            if known is None:
                raise  # not a user's mistake: a bug, with its traceback
            raise OneLineError(*known) from None

    @staticmethod
    def _one_line(error: click.ClickException) -> OneLineError:
        lines, code = error_lines(error) or ([error.format_message()], error.exit_code)
        return OneLineError(lines, code)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    right: Collection[str] = (),
) -> None:
    """A table on stdout, complete at any width: cells fold instead of ending in `…`.

    Columns named in `right` (numbers) are right-aligned.
    """
    table = RichTable(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)


@click.group(cls=NdcGroup)
@click.version_option(package_name="ndc-pipelines", prog_name="ndc")
@click.option(
    "--debug",
    is_flag=True,
    envvar="NDC_DEBUG",
    help="Show tracebacks and Dagster's own log instead of one-line errors (for reporting a bug).",
)
def main(debug: bool) -> None:
    """NDC Pipelines: ministry sources → Great Expectations → Polars → Delta Lake."""
    NdcGroup.debug = debug


@main.command()
@click.option(
    "--citizens",
    type=click.IntRange(min=100),
    default=100_000,
    show_default=True,
    help="People in the demo population register (at least 100).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=6,
    show_default=True,
    help="Seed of the deterministic generator.",
)
@click.option("--reuse-sources", is_flag=True, help="Keep already generated sources instead of regenerating.")
@click.option(
    "--backend",
    type=click.Choice(["embedded", "postgres", "mariadb"]),
    default="embedded",
    show_default=True,
    help="Where the SQL sources live: the embedded SQLite files, or a local PostgreSQL / MariaDB server loaded with them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def demo(citizens: int, seed: int, reuse_sources: bool, backend: str, as_json: bool) -> None:
    """Generate five demo ministries and run the nightly_sync job on them (a run in the Dagster instance)."""
    set_local_defaults()
    from catalogue import load_catalogue

    load_catalogue()  # a catalogue mistake stops the demo before anything is generated or deleted
    use_local_defaults()
    demo_dir = Path(os.environ["NDC_DEMO_DIR"])
    started = time.perf_counter()
    prepare_demo_warehouse(citizens, seed)
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
        from devservers.process import ServerError

        try:
            with console.status(f"loading the demo sources into {backend}…"):
                source_urls = prepare_backend(backend, demo_dir, local_state() / "servers" / backend)
        except ServerError as error:
            raise click.ClickException(str(error)) from None
        os.environ.update(source_urls)  # NDC_<SOURCE>_URL: the values hold the password, never print them
        console.print(f"[green]✓[/] SQL sources served by local {backend} ({', '.join(sorted(source_urls))})")
    from orchestration.runs import full_refresh_config

    # One run, every load reading its whole source: one materialisation per asset.
    result, run_id = run_job("nightly_sync", run_config=full_refresh_config())
    report_run(run_id, result, as_json=as_json, started=started)


@main.command()
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="Re-read source rows from this day (inclusive)."
)
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), help="...to this day (exclusive). Default: no end."
)
@click.option(
    "--full-refresh", is_flag=True, help="Read every row again (MERGE keeps silver free of duplicates)."
)
@click.option("--table", "tables", multiple=True, help="Only these tables (source.table); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def sync(since, until, full_refresh: bool, tables: tuple[str, ...], as_json: bool) -> None:
    """Run nightly_sync now: each table from its high-water mark, or a window of days, as one run."""
    set_local_defaults()
    from assets.nightly import day_window
    from catalogue import load_catalogue
    from orchestration.runs import load_run_config

    catalogue = load_catalogue()
    known = {ref.key: ref for ref in catalogue.tables}
    if unknown := [t for t in tables if t not in known]:
        raise click.BadParameter(
            f"no table {', '.join(repr(t) for t in unknown)} in the catalogue; known: {', '.join(known)}",
            param_hint="'--table'",
        )
    if full_refresh and (since or until):
        raise click.BadParameter(
            "--full-refresh reads every row: give it alone, or choose days with --since / --until",
            param_hint="'--full-refresh'",
        )
    if since and until and since >= until:
        raise click.BadParameter(f"{since:%Y-%m-%d} is not before --until: no day to load", param_hint="'--since'")
    chosen = list(dict.fromkeys(tables)) if tables else None
    window = day_window(since.date() if since else None, until.date() if until else None)
    use_local_defaults()
    started = time.perf_counter()
    result, run_id = run_job(
        "nightly_sync", run_config=load_run_config(chosen, full_refresh=full_refresh, window=window), only=chosen
    )
    report_run(run_id, result, as_json=as_json, started=started)


OLD_DEMO_STAMP = (
    "demo-warehouse.json"  # before the marker: .ndc/demo-warehouse.json beside the default warehouse
)


def prepare_demo_warehouse(citizens: int, seed: int) -> None:
    """The demo's own local warehouse, holding one demo population, marked as the demo's.

    The demo deletes only a warehouse carrying its marker (and only when the size or seed changed);
    a non-empty folder without it is someone's data: the demo refuses to touch it. A warehouse on
    S3 is never the demo's to delete: the job's MERGE keeps a rerun idempotent there.
    """
    from warehouse.demo_marker import read_demo_marker, write_demo_marker
    from warehouse.storage import StorageSettings, default_warehouse_uri, is_s3_uri

    wanted = {"citizens": citizens, "seed": seed}
    uri = StorageSettings.from_env().warehouse_uri
    if is_s3_uri(uri):
        return
    folder = Path(uri)
    old_stamp = local_state() / OLD_DEMO_STAMP if uri == default_warehouse_uri() else None
    facts = read_demo_marker(uri)
    if facts is None and old_stamp is not None and old_stamp.is_file():
        facts = _read_json_object(old_stamp)  # the default demo warehouse, from before the marker
    if facts is None:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise click.ClickException(
                f"{uri} holds data `ndc demo` did not create, and the demo never deletes or mixes into "
                f"someone's warehouse: point NDC_WAREHOUSE_URI at another folder, or remove that one yourself"
            )
    elif {key: facts.get(key) for key in wanted} != wanted:
        console.print(
            f"[yellow]the demo changed ({facts} → {wanted}): starting a fresh warehouse in {uri}[/]"
        )
        shutil.rmtree(folder)
    write_demo_marker(uri, wanted)
    if old_stamp is not None:
        old_stamp.unlink(missing_ok=True)


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def run_job(
    name: str,
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    only: list[str] | None = None,
):
    """Launch a run of a job in the persistent Dagster instance and follow it to its end.

    The run is a real run of the workspace's code location (orchestration/launch.py): it shows in
    the job's Runs tab and the Overview timeline, runs on the job's executor with the pools of
    dagster.yaml, and prints its steps and the loads' progress here as they happen. ctrl-C
    terminates it. Returns the run's summary (`.success`, `.run_id`, `.all_events`) and its id.
    """
    import dagster as dg

    from devservers.process import pid_alive
    from orchestration import launch
    from orchestration.reclaim import PID_TAG, process_tags

    selection = None
    if only is not None:  # the chosen tables' loads, without gold (it needs every table)
        selection = [
            dg.AssetKey([layer, *key.split(".")]) for key in only for layer in ("bronze", "quarantine", "silver")
        ]
    # The run's steps and the loads' lines are printed here from its events (show_progress), and
    # failed steps once, one line each (report_run); Dagster's own log is for `ndc --debug`.
    dagster_level = "WARNING" if NdcGroup.debug else "CRITICAL"
    run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": dagster_level}}}}
    with dg.DagsterInstance.get() as instance:
        announce_pool_state(instance)
        # Dagster's own output of the code server, run worker and steps goes to a log file in
        # DAGSTER_HOME; `ndc --debug` shows it on the terminal.
        dagster_log = None if NdcGroup.debug else Path(instance.root_directory) / "logs" / "ndc-runs.log"
        with console.status("loading the code location (workspace.yaml)…"), launch.children_output_to(dagster_log):
            workspace_context = launch.open_workspace(instance, log_level=dagster_level)
        with workspace_context:
            workspace = workspace_context.create_request_context()
            try:
                created = launch.create_run(
                    instance,
                    workspace,
                    name,
                    run_config=run_config,
                    # ndc/pid is this process until the run worker reports its own (reclaim.py)
                    tags={**(tags or {}), **process_tags()},
                    asset_selection=selection,
                )
            except launch.LaunchError as error:
                raise click.ClickException(str(error)) from None
            console.print(
                f"launched [bold]{name}[/] run {created.run_id} (DAGSTER_HOME={os.environ.get('DAGSTER_HOME')})"
            )
            instance.launch_run(created.run_id, workspace)
            run = launch.LaunchedRun(created.run_id)
            try:
                launch.follow_run(
                    instance,
                    run,
                    show_progress,
                    on_worker=lambda pid: instance.add_run_tags(run.run_id, {PID_TAG: str(pid)}),
                    worker_gone=lambda pid: not pid_alive(pid),
                )
            except KeyboardInterrupt:
                status = launch.terminate(instance, run.run_id)
                raise OneLineError([f"interrupted: run {run.run_id} terminated ({status})"], 130) from None
    return run, run.run_id


def show_progress(entry) -> None:
    """One line per step event and per log line of a load; failures are reported once, at the end.

    Dagster's own engine messages (and a failed step's stack trace) are for `ndc --debug`.
    """
    event = entry.dagster_event
    step = entry.step_key
    if event is None:
        if step is not None and entry.level >= logging.INFO:
            console.print(entry.user_message, markup=False, highlight=False)
        elif NdcGroup.debug:
            console.print(f"[dim]{entry.user_message}[/]", highlight=False)
        return
    kind = event.event_type_value
    if kind == "STEP_START":
        console.print(f"[dim]▶ {step} started[/]", highlight=False)
    elif kind == "STEP_SUCCESS":
        console.print(f"[green]✓[/] {step} done", highlight=False)
    elif kind == "STEP_FAILURE":
        console.print(f"[red]✗[/] {step} failed", highlight=False)
    elif kind in ("STEP_UP_FOR_RETRY", "STEP_RESTARTED"):
        console.print(f"[yellow]↻ {step}: {kind.lower().replace('_', ' ')}[/]", highlight=False)
    elif NdcGroup.debug:
        console.print(f"[dim]{kind} {step or ''} {entry.user_message}[/]", highlight=False)


def announce_pool_state(instance) -> None:
    """Free the pool slots of runs that died (killed, crashed) and name the live runs this one will
    wait for, so that a wait on a source's pool is never a silent hang."""
    from orchestration.reclaim import blocking_runs, reclaim_pool_slots

    for freed in reclaim_pool_slots(instance):
        console.print(
            f"[yellow]freed the {', '.join(freed.pools)} pool slots of run {freed.run_id} ({freed.reason})[/]"
        )
    pools = instance.event_log_storage.get_concurrency_keys()
    for holder in blocking_runs(instance, pools):
        console.print(
            f"[yellow]pool {holder.pool} is held by run {holder.run_id} ({holder.status}): loads of that "
            "source wait for it; `dagster run delete` or a cancel in the UI frees it[/]"
        )


def run_loads(run_id: str, result) -> list[dict[str, Any]]:
    """One record per table the run loaded (ops.pipeline.loads), with its rule checks' outcomes.

    Rule checks read `clean` (no row broke the rule), `warned` (rows broke it and were quarantined
    or flagged: the source's data, WARN severity) or `failed` (ERROR severity: a blocking rule);
    `restated` when a load found nothing new and re-stated the last real outcome.
    """
    from warehouse.committed import LOADS
    from warehouse.tables import Warehouse

    warehouse = Warehouse.from_env()
    if not warehouse.exists(LOADS):
        return []
    import polars as pl

    rules: dict[str, list[str]] = {}
    restated: dict[str, set[str]] = {}
    news: dict[str, str] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            asset = "/".join(evaluation.asset_key.path)
            if evaluation.check_name == "conservation":  # the balance has its own column
                continue
            rules.setdefault(asset, []).append(rule_outcome(evaluation.passed, evaluation.severity.value))
            if "restated" in evaluation.metadata:
                origin = evaluation.metadata.get("outcome_of_load")
                restated.setdefault(asset, set()).add(str(getattr(origin, "value", origin)))
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            summary = materialization.metadata.get("this_load")
            if summary is not None:
                news["/".join(materialization.asset_key.path)] = str(getattr(summary, "value", summary))
    loads = warehouse.read(LOADS).filter(pl.col("_run_id") == run_id).sort("source", "table")
    records = []
    for row in loads.iter_rows(named=True):
        silver = f"silver/{row['source']}/{row['table']}"
        outcomes = rules.get(silver, [])
        records.append(
            {
                "table": f"{row['source']}.{row['table']}",
                **{
                    column: row[column]
                    for column in ("extracted", "landed", "quarantined", "deduplicated", "linked", "balanced")
                },
                "this_load": news.get(silver, ""),
                "rules_clean": outcomes.count("clean"),
                "rules_warned": outcomes.count("warned"),
                "rules_failed": outcomes.count("failed"),
                "rules_restated_from": sorted(restated.get(silver, set())),
                # Kept for scripts written before the rule columns: every check run, balance included.
                "checks_passed": outcomes.count("clean") + (1 if row["balanced"] else 0),
                "checks": len(outcomes) + 1,
            }
        )
    return records


def rule_outcome(passed: bool, severity: str) -> str:
    """clean · warned (the source's rows broke a rule; WARN) · failed (ERROR)."""
    if passed:
        return "clean"
    return "warned" if severity == "WARN" else "failed"


def rules_cell(load: dict[str, Any]) -> str:
    """`17 clean · 6 warned (rows quarantined)` for the summary table."""
    parts = [f"{load['rules_clean']} clean"]
    if load["rules_warned"]:
        parts.append(f"[yellow]{load['rules_warned']} warned[/] (rows quarantined or flagged)")
    if load["rules_failed"]:
        parts.append(f"[red]{load['rules_failed']} FAILED[/]")
    cell = " · ".join(parts)
    if load["rules_restated_from"]:
        cell += f" · as of run {', '.join(r[:8] for r in load['rules_restated_from'])}"
    return cell


def report_run(run_id: str, result, *, as_json: bool, started: float) -> None:
    """The run's summary on stdout (a table, or JSON); a failed run raises RunFailed, one line per step."""
    from orchestration.errors import explain_storage_message
    from orchestration.runs import run_failure_lines
    from warehouse.storage import StorageSettings

    loads = run_loads(run_id, result)
    failures = run_failure_lines(result, explain_storage_message)
    warehouse_uri = StorageSettings.from_env().warehouse_uri
    if as_json:
        print_json(
            {
                "run_id": run_id,
                "success": result.success,
                "warehouse": warehouse_uri,
                "loads": loads,
                "failures": failures,
            }
        )
    else:
        columns = (
            "source table",
            "extracted",
            "landed",
            "quarantined",
            "deduplicated",
            "linked",
            "balanced",
            "rules (source data)",
            "this load",
        )
        rows = [
            [
                load["table"],
                *(f"{load[c]:,}" for c in ("extracted", "landed", "quarantined", "deduplicated", "linked")),
                "[green]yes[/]" if load["balanced"] else "[red]NO[/]",
                rules_cell(load),
                load["this_load"],
            ]
            for load in loads
        ]
        if rows:
            print_table(columns, rows, title=f"nightly_sync {run_id[:8]}", right=columns[1:7])
        stdout_console().print(f"warehouse: {warehouse_uri}")
    console.print(f"done in {time.perf_counter() - started:.0f}s")
    if not result.success:
        raise RunFailed(failures)
    if not as_json:
        stdout_console().print(
            'next: [bold]uv run ndc tables[/] · [bold]uv run ndc sql "SELECT * FROM gold.kpi.linkage_by_province LIMIT 10"[/]'
            # The UI must open this run's instance: without DAGSTER_HOME it would show an empty one.
            f" · [bold]DAGSTER_HOME={os.environ.get('DAGSTER_HOME', '')} uv run dagster dev[/]"
            " (then open http://127.0.0.1:3000)"
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tables(as_json: bool) -> None:
    """List the warehouse's Delta tables: name, URI, rows, version, last update.

    Zones the storage credentials cannot read (a gold-only key) are skipped with one line.
    """
    use_local_defaults(gold_only=True)
    from warehouse.catalog import table_infos

    listing = table_infos()
    infos = listing.infos
    if note := listing.discovery.note():
        console.print(f"[yellow]{note}[/]")
    if as_json:
        print_json(
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
        return
    print_table(
        ("name", "rows", "version", "updated", "uri"),
        [
            [
                i.name,
                f"{i.rows:,}",
                str(i.version),
                f"{i.updated_at:%Y-%m-%d %H:%M:%S}" if i.updated_at else "",
                i.uri,
            ]
            for i in infos
        ],
        right=("rows", "version"),
    )


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
    use_local_defaults(gold_only=True)
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
    use_local_defaults(gold_only=True)
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
        print_json(
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
        return
    columns = (
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
    )
    rows = [
        [
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
        ]
        for s in scores
    ]
    print_table(columns, rows, title="quarantine and linkage against the ground truth", right=columns[1:])
    lines = stdout_console()
    for s in scores:
        for column, share in s.value_accuracy.items():
            if share < 1:
                lines.print(f"  {s.table}: {column} equals the truth in {share:.2%} of landed rows")
    missed = {(s.table, d): r for s in scores for d, r in s.defect_recall.items() if r < 1}
    for (name, defect), rate in sorted(missed.items()):
        lines.print(f"  {name}: defect {defect} quarantined in {rate:.1%} of rows that have it")


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
    if type(storage) is click.Group:  # its --help lists whole descriptions too
        storage.__class__ = FullHelpGroup
    main.add_command(storage)


_attach_storage()
main.add_command(docs)

from orchestration.standard_cli import COMMANDS as _STANDARD_COMMANDS  # noqa: E402 - issue 13's commands

for _command in _STANDARD_COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main()
