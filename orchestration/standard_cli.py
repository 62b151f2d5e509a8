"""`ndc standard | feedback | report | changes`: Project 06's data standard from the command line.

The main CLI adds these commands at its bottom with `main.add_command(...)`, as it does storage's.
"""

from __future__ import annotations

import click


def _setup():
    from catalogue import load_catalogue
    from orchestration.cli import use_local_defaults
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
    from orchestration.cli import print_json, print_table
    from pipeline.standard import ALL, PROVINCE, measurement_time, write_standard
    from pipeline.worklist import write_worklists

    catalogue, warehouse = _setup()
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
    from orchestration.cli import print_json
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


COMMANDS = (standard, feedback, report)
