"""`ndc`: the command line of NDC Pipelines (demo, sync, tables, sql, score, storage).

The commands only: each parses its arguments, asks a runner and hands what it found to the
renderer. Rooms: orchestration.local_defaults (the environment), job_runner (a run of a job),
demo_setup (what the demo prepares), warehouse_reads (tables, audited queries, the audit trail),
cli_render (everything printed), cli_group (help, one-line errors, lazily loaded groups).

Every mistake a user can fix (an argument, the catalogue, a storage setting, a source, a failed
run) ends as `error: <one line>` on stderr and a non-zero exit (2 for the command line, 1 for the
rest), through NdcGroup and orchestration.errors; `ndc --debug` shows tracebacks instead.
Start-up matters (`ndc tables`, `ndc sql`): nothing heavy is imported at this module's top.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import date

import click

from orchestration.cli_group import NdcGroup, Since, role_option
from orchestration.cli_render import console
from orchestration.local_defaults import (  # set_local_defaults: bench/ imports it from here too
    dagster_home,
    demo_dir,
    set_local_defaults,
    use_local_defaults,
)
from orchestration.standard_cli import COMMANDS as STANDARD_COMMANDS

# Groups of their own modules, imported only when named or listed (`ndc --help`).
LAZY_GROUPS = {"storage": "orchestration.storage_cli:storage", "docs": "orchestration.docs_cli:docs"}


@click.group(cls=NdcGroup, lazy=LAZY_GROUPS)
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
    from orchestration.demo_setup import prepare_demo_sources, prepare_demo_warehouse
    from orchestration.runs import full_refresh_config

    load_catalogue()  # a catalogue mistake stops the demo before anything is generated or deleted
    use_local_defaults()
    started = time.perf_counter()
    check_gold_key(unless_demo_key=True)  # a weak key of one's own: refused before the old demo is replaced
    prepare_demo_warehouse(citizens, seed)
    check_gold_key()  # no key: allowed only in the demo's own warehouse, marked just now
    prepare_demo_sources(citizens, seed, reuse_sources=reuse_sources, backend=backend, started=started)
    # One run, every load reading its whole source: one materialisation per asset.
    run_and_report("nightly_sync", full_refresh_config(), as_json=as_json, started=started)


class Day(click.ParamType):
    """A calendar day, written as the help shows it (click's DateTime would answer a typo with a
    strftime pattern, '%Y-%m-%d', where a person reads YYYY-MM-DD)."""

    name = "YYYY-MM-DD"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            self.fail(f"{text!r} is not a day: write it YYYY-MM-DD, e.g. 2026-11-01", param, ctx)
        try:
            return date.fromisoformat(text)
        except ValueError as wrong:  # a month 13, a 30 February
            self.fail(f"{text!r} is not a day: {wrong}", param, ctx)


@main.command()
@click.option(
    "--since", type=Day(), help="Re-read source rows from this day (inclusive). With --until alone: from the first row."
)
@click.option("--until", type=Day(), help="...to this day (exclusive). Default: no end.")
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
    window = day_window(since, until)
    use_local_defaults()
    if chosen is None:
        check_gold_key()
    started = time.perf_counter()
    run_config = load_run_config(chosen, full_refresh=full_refresh, window=window)
    run_and_report("nightly_sync", run_config, as_json=as_json, started=started, only=chosen)


def check_gold_key(*, unless_demo_key: bool = False) -> None:
    """A run that builds gold needs a pseudonym key this warehouse accepts: refused before any
    table is loaded, not by the gold step after all of them (pipeline/gold.py: pseudonym_key).
    `unless_demo_key`: no key, or the demo's, passes (the demo's own warehouse is not marked yet)."""
    import environment
    from pipeline.gold import DEMO_PSEUDONYM_KEY, PseudonymKeyError, pseudonym_key
    from warehouse.storage import StorageSettings

    configured = environment.settings().pseudonym_key
    key = configured.get_secret_value() if configured else ""
    if unless_demo_key and (not key.strip() or key == DEMO_PSEUDONYM_KEY):
        return
    try:
        pseudonym_key(key, StorageSettings.from_env().warehouse_uri)
    except PseudonymKeyError as error:
        raise click.ClickException(f"{error} (checked before loading anything: no table was touched)") from None


def run_and_report(name: str, run_config: dict, *, as_json: bool, started: float, only: list[str] | None = None) -> None:
    """Run the job, print its summary; a failed run raises RunFailed (one line per failed step)."""
    from orchestration.cli_render import print_next_steps, print_run_summary
    from orchestration.errors import RunFailed
    from orchestration.job_runner import run_job, run_summary

    result, run_id = run_job(name, run_config=run_config, only=only)
    summary = run_summary(run_id, result)
    print_run_summary(summary, as_json=as_json, started=started)
    if not result.success:
        raise RunFailed(summary["failures"])
    if not as_json:
        print_next_steps(dagster_home(""), only_tables=only is not None)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tables(as_json: bool) -> None:
    """List the warehouse's Delta tables: name, URI, rows, version, last update.

    Zones the storage credentials cannot read (a gold-only key) are skipped with one line.
    """
    use_local_defaults(gold_only=True)
    from orchestration.cli_render import note, print_table_infos
    from orchestration.warehouse_reads import list_tables

    listing = list_tables()
    note(listing.discovery)
    print_table_infos(listing.infos, as_json=as_json)
    if not listing.infos:
        from orchestration.cli_render import console
        from warehouse.storage import StorageSettings

        console.print(
            f"no table in {StorageSettings.from_env().warehouse_uri} yet: run `uv run ndc demo`, "
            "or point NDC_WAREHOUSE_URI at a warehouse",
            markup=False, highlight=False,
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
@click.option("--json", "as_json", is_flag=True, help="The same as --format json, as every table-printing command takes.")
@click.option("--limit", default=1000, show_default=True, help="Most rows printed in table format.")
@role_option("analyst: gold only. restricted: also bronze, silver, quarantine and ops (raw personal data).")
def sql(query: str, fmt: str, as_json: bool, limit: int, role: str) -> None:
    """Run one read-only SELECT over the warehouse, tables named layer.domain.table (DuckDB).

    Every query, refused ones too, is recorded in the audit trail (`ndc audit`) before any
    result is shown; NDC_ANALYST names the person when the OS account is shared.
    """
    if as_json and fmt not in ("table", "json"):
        raise click.BadParameter(f"--json is --format json: give one of them, not --format {fmt} too", param_hint="'--json'")
    fmt = "json" if as_json else fmt
    use_local_defaults(gold_only=True)
    from orchestration.cli_render import note, print_frame
    from orchestration.warehouse_reads import run_audited_sql

    result = run_audited_sql(query, fmt=fmt, role=role)
    note(result.discovery)
    print_frame(result.frame, fmt, limit=limit)


@main.command(name="audit")
@click.option(
    "--since", type=Since(), help="Only records from then on: 7d, 12h, 30m, or a date/time (UTC) like 2026-11-01."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def audit_trail(since: str | None, as_json: bool) -> None:
    """Show the audit trail of `ndc sql`: who ran what, when, on which tables and personal data.

    The trail lives in the restricted zone (ops.audit.queries, or NDC_AUDIT_URI): reading it needs
    credentials for that zone.
    """
    use_local_defaults(gold_only=True)
    from orchestration.cli_render import print_audit_trail
    from orchestration.warehouse_reads import read_trail

    print_audit_trail(read_trail(since), as_json=as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def score(as_json: bool) -> None:
    """Score the last demo run against the generator's ground truth: quarantine and linkage."""
    use_local_defaults()
    from catalogue import load_catalogue
    from demo.score import score as score_tables
    from orchestration.cli_render import print_scores
    from warehouse.tables import Warehouse

    scores = score_tables(load_catalogue(), Warehouse.from_env(), demo_dir())
    if not scores:
        raise click.ClickException("no ground truth found: run `ndc demo` first")
    print_scores(scores, as_json=as_json)


@main.command()
@click.option("--connect", is_flag=True, help="Also reach every source: log in and read one row of each table.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: a list of findings.")
def check(connect: bool, as_json: bool) -> None:
    """Check the catalogue, mappings and suites (every rule compiles) before any load; exit 1 on an error."""
    use_local_defaults()
    from catalogue.check import check_catalogue, connection_findings, errors
    from orchestration.cli_render import print_findings

    with console.status("checking the catalogue and compiling every suite…"):
        catalogue, findings = check_catalogue()
    if connect and catalogue is not None:
        with console.status("reaching every source…"):
            findings += list(connection_findings(catalogue))
    print_findings(catalogue, findings, errors(findings), connect=connect, as_json=as_json)
    if errors(findings):
        sys.exit(1)


for _command in STANDARD_COMMANDS:  # issue 13's commands
    main.add_command(_command)

if __name__ == "__main__":
    main()
