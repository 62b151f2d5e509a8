"""What `ndc` prints: progress on stderr, tables and JSON on stdout, one block per audit record.

Nothing here reads the warehouse or runs anything: each function takes what a command's runner
found (orchestration.job_runner, orchestration.warehouse_reads) and writes it. Tables on stdout
are complete at any width: cells fold instead of ending in `…`, and piped output is never cut to a
terminal's width.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Collection, Sequence
from typing import Any

import click
from rich.console import Console

PIPED_WIDTH = 10_000  # piped output is never cut to a terminal's width: each row stays one line


def _width(stream: Any) -> int | None:
    """A terminal's own width; unlimited when piped (None lets Rich ask the terminal)."""
    return None if stream.isatty() else PIPED_WIDTH


console = Console(stderr=True, width=_width(sys.stderr))  # progress: a long path stays one line in a log


def stdout_console() -> Console:
    """Rich output for stdout: the terminal's width there, unlimited width when piped."""
    return Console(width=_width(sys.stdout))


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
    from rich.table import Table as RichTable

    table = RichTable(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)


def note(discovery: Any) -> None:
    """The zones the credentials could not read (a gold-only key), one line, when there are any."""
    if discovery is not None and (line := discovery.note()):
        console.print(f"[yellow]{line}[/]")


# -- a run of a job: its steps as they happen, then its loads --------------------------------------


def show_progress(entry, *, debug: bool = False) -> None:
    """One line per step event and per log line of a load; failures are reported once, at the end.

    Dagster's own engine messages (and a failed step's stack trace) are for `ndc --debug`.
    """
    import logging

    event = entry.dagster_event
    step = entry.step_key
    if event is None:
        if step is not None and entry.level >= logging.INFO:
            console.print(entry.user_message, markup=False, highlight=False)
        elif debug:
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
    elif debug:
        console.print(f"[dim]{kind} {step or ''} {entry.user_message}[/]", highlight=False)


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


def print_run_summary(summary: dict[str, Any], *, as_json: bool, started: float) -> None:
    """The run's summary (orchestration.job_runner.run_summary) on stdout, a table or JSON, then
    the command's time on stderr."""
    if as_json:
        print_json(summary)
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
            for load in summary["loads"]
        ]
        if rows:
            print_table(columns, rows, title=f"nightly_sync {summary['run_id'][:8]}", right=columns[1:7])
        stdout_console().print(f"warehouse: {summary['warehouse']}")
    console.print(f"done in {time.perf_counter() - started:.0f}s")


def print_next_steps(dagster_home: str, *, only_tables: bool = False) -> None:
    """After a successful run: the commands to try next (and, after `--table`, that gold was not rebuilt)."""
    if only_tables:
        stdout_console().print("gold was not rebuilt: --table loads silver only; [bold]uv run ndc sync[/] rebuilds it")
    stdout_console().print(
        'next: [bold]uv run ndc tables[/] · [bold]uv run ndc sql "SELECT * FROM gold.kpi.linkage_by_province LIMIT 10"[/]'
        # The UI must open this run's instance: without DAGSTER_HOME it would show an empty one.
        f" · [bold]DAGSTER_HOME={dagster_home} uv run dagster dev[/]"
        " (then open http://127.0.0.1:3000)"
    )


# -- what the warehouse holds, and what was asked of it ------------------------------------------


def print_table_infos(infos: Sequence[Any], *, as_json: bool) -> None:
    """`ndc tables`: name, rows, version, last update and URI of each table."""
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


def print_frame(frame: Any, fmt: str, *, limit: int) -> None:
    """`ndc sql`'s result: every row as CSV or JSON (an export), or up to `limit` rows as a table."""
    if fmt == "csv":
        from warehouse.sql import to_csv

        sys.stdout.write(to_csv(frame))
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        import polars as pl

        # Piped, every column and value whole (a terminal gets 200 characters, folded by Rich, and
        # text cut at 60: --format csv / json export whole values there).
        terminal = sys.stdout.isatty()
        width, text = (200, 60) if terminal else (PIPED_WIDTH, PIPED_WIDTH)
        with pl.Config(tbl_rows=limit, tbl_cols=-1, fmt_str_lengths=text, tbl_width_chars=width):
            stdout_console().print(str(frame), soft_wrap=True)


def print_audit_trail(trail: Any, *, as_json: bool) -> None:
    """`ndc audit`: one block per record (queries are long, and a table would cut them)."""
    if as_json:
        rows = [{**row, "at": row["at"].isoformat()} for row in trail.iter_rows(named=True)]
        stdout_console().print_json(json.dumps(rows))
        return
    from rich.markup import escape

    out = stdout_console()
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


def print_scores(scores: Sequence[Any], *, as_json: bool) -> None:
    """`ndc score`: quarantine and linkage of each table against the demo's ground truth."""
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


def print_findings(catalogue: Any, findings: Sequence[Any], errors: Sequence[Any], *, connect: bool, as_json: bool) -> None:
    """`ndc check`: one line per finding, then the verdict on stderr (or the findings as JSON)."""
    if as_json:
        sys.stdout.write(json.dumps([finding.as_dict() for finding in findings], indent=2) + "\n")
        return
    for finding in findings:
        click.echo(finding.line())
    tables = len(catalogue.tables) if catalogue is not None else 0
    verdict = f"{len(errors)} error(s)" if errors else "no errors"
    console.print(f"{verdict}; {tables} table(s) checked" + ("" if connect else " (add --connect to reach the sources)"))
