"""`ndc standard | feedback | report | changes`: Project 06's data standard from the command line.

The main CLI adds these commands at its bottom with `main.add_command(...)`.
"""

from __future__ import annotations

import click

from orchestration.cli_group import Since, role_option


def _setup():
    from catalogue import load_catalogue
    from orchestration.local_defaults import use_local_defaults
    from warehouse.tables import Warehouse

    use_local_defaults()
    return load_catalogue(), Warehouse.from_env()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def standard(as_json: bool) -> None:
    """Measure the data standard now: rebuild the worklists and today's gold.kpi.data_standard.

    Prints each ministry table's four criteria (correct, complete, clean, live); the nightly sync
    does the same after every load. Definitions: docs/data-standard.md.
    """
    from orchestration.cli_render import print_json, print_table
    from pipeline.standard import ALL, PROVINCE, measurement_time, write_standard
    from pipeline.worklist import write_worklists
    from warehouse.changes import enable_change_feeds

    catalogue, warehouse = _setup()
    enable_change_feeds(catalogue, warehouse)
    open_items = write_worklists(catalogue, warehouse)
    frame, _ = write_standard(catalogue, warehouse, measurement_time())
    if not frame.height:
        raise click.ClickException("nothing to measure: the population register is not loaded yet (run `ndc demo`)")
    rows = frame.filter(frame[PROVINCE] == ALL).sort("source", "table").to_dicts()
    for row in rows:
        row["open_items"] = open_items.get(f"{row['source']}.{row['table']}", 0)
    if as_json:
        print_json([{**r, "day": r["day"].isoformat(), "measured_at": r["measured_at"].isoformat()} for r in rows])
        return

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}%"

    columns = ("table", "records", "correct", "complete", "clean", "live", "lag h", "worklist")
    print_table(
        columns,
        [
            [
                f"{r['source']}.{r['table']}", f"{r['records']:,}", pct(r["pct_correct"]), pct(r["pct_complete"]),
                pct(r["pct_clean"]), pct(r["pct_live"]), "–" if r["lag_hours"] is None else f"{r['lag_hours']:.1f}",
                f"{r['open_items']:,}",
            ]
            for r in rows
        ],
        title=f"data standard on {rows[0]['day']}",
        right=columns[1:],
    )


@click.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def feedback(source: str, as_json: bool) -> None:
    """Write SOURCE's open worklist (Excel and CSV, Vietnamese headers) to its outbox.

    The files land in <warehouse>/outbox/SOURCE/<date>/ (a folder or S3): restricted zone, they
    hold the ministry's own records. The worklists are rebuilt first, so the files are current.
    """
    from orchestration.cli_render import print_json
    from pipeline.feedback import write_feedback
    from pipeline.standard import measurement_day, measurement_time, register_of
    from pipeline.worklist import write_worklist

    catalogue, warehouse = _setup()
    if source not in catalogue.sources:
        raise click.UsageError(f"no source '{source}'; known: {', '.join(sorted(catalogue.sources))}")
    register = register_of(catalogue, warehouse)
    for ref in catalogue.tables:
        if ref.source.name == source:
            write_worklist(ref, warehouse, register)
    sent = write_feedback(catalogue, warehouse, source, measurement_day(measurement_time()))
    if as_json:
        print_json({"source": sent.source, "day": sent.day.isoformat(), "items": sent.items,
                    "per_table": sent.per_table, "files": list(sent.files)})
        return
    click.echo(f"{sent.items:,} open item(s) for {source} " + (f"({sent.per_table})" if sent.per_table else ""))
    for path in sent.files:
        click.echo(path)


@click.command()
def report() -> None:
    """Write the data standard's static HTML report (inline SVG, works offline) beside Data Docs.

    It shows gold.kpi.data_standard as last measured (the nightly sync, or `ndc standard`).
    """
    from pipeline.report import write_report

    _, warehouse = _setup()
    click.echo(write_report(warehouse))


@click.command()
@click.argument("table")
@click.option(
    "--since", type=Since(), required=True, help="From then on: 7d, 12h, 30m, or a date/time (UTC) like 2026-11-01."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@role_option("Silver holds personal data: only the restricted role may read its changes.")
@click.option(
    "--scd2",
    "history",
    metavar="COLUMNS",
    help="Instead, the history of these comma-separated columns as spans: key, values, valid_from, valid_to "
    "(e.g. residence_ward_legacy,vital_status).",
)
def changes(table: str, since: str, as_json: bool, role: str, history: str | None) -> None:
    """Print what changed in a silver TABLE (layer.domain.table) since a time: inserts, updates
    (one line per changed column, before and after) and tombstones, from Delta's change data feed.

    Audited like `ndc sql` (ndc audit), refused ones too, before anything is shown.
    """
    import polars as pl
    from rich.markup import escape

    from orchestration.cli_render import print_json, print_table, stdout_console
    from pipeline.personal_data import GOLD_PERSONAL_DATA
    from warehouse import audit
    from warehouse.changes import ChangesError, raw_changes, scd2
    from warehouse.changes import changes as read_changes
    from warehouse.tables import TableName

    catalogue, warehouse = _setup()
    query = f"changes {table} --since {since}" + (f" --scd2 {history}" if history else "")

    def record(outcome: audit.Outcome, **facts) -> None:
        try:
            audit.append(
                warehouse.settings,
                audit.AuditRecord(query=query, role=role, output="json" if as_json else "table", outcome=outcome,
                                  command="changes", **facts),
            )
        except audit.AuditError as error:
            raise click.ClickException(str(error)) from None

    try:
        name = TableName.parse(table)
        ref = next((r for r in catalogue.tables if (r.domain, r.table.name) == (name.domain, name.table)), None)
        if name.layer != "silver":
            raise ChangesError(
                f"{table}: changes are kept for silver tables; name one as silver.<source>.<table> "
                f"(e.g. silver.{catalogue.tables[0].domain}.{catalogue.tables[0].table.name})"
            )
        if ref is None:
            known = ", ".join(f"silver.{r.domain}.{r.table.name}" for r in catalogue.tables)
            raise ChangesError(f"{table}: no such table in the catalogue; silver tables: {known}")
        if role != "restricted":
            record("refused", reason="silver is in the restricted zone")
            raise click.ClickException(
                f"refused: {table} is in a restricted zone; role 'analyst' reads gold only (use --role restricted)"
            )
        start = audit.parse_since(since)
        if history:
            from pipeline.mapping import watermark_column

            columns = [c.strip() for c in history.split(",") if c.strip()]
            feed = raw_changes(warehouse, name, start)
            frame = scd2(feed, ref.entity.primary_key, columns, watermark_column(ref.table))
            frame = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
        else:
            frame = read_changes(warehouse, name, ref.entity.primary_key, start)
    except (ChangesError, ValueError) as error:
        record("error", reason=str(error).splitlines()[0])
        raise click.ClickException(str(error)) from None
    classes = audit.personal_data_classes(catalogue, GOLD_PERSONAL_DATA).get(str(name), {})
    shown = set(ref.entity.primary_key) | set(
        frame.columns if history else frame["column"].drop_nulls().unique().to_list()
    )
    personal = sorted(f"{name}.{c}:{k}" for c, k in classes.items() if k != "none" and c in shown)
    record("ok", tables=(str(name),), personal_columns=tuple(personal), rows=frame.height)
    if as_json:
        print_json(frame.to_dicts())
        return
    stdout_console().print(f"{table}: {frame.height:,} {'span(s)' if history else 'change(s)'} since {start:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
    print_table(
        tuple(frame.columns),
        [["" if v is None else escape(str(v)) for v in row] for row in frame.iter_rows()],
        right=("version",),
    )


COMMANDS = (standard, feedback, report, changes)
