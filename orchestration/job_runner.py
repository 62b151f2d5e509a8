"""How `ndc demo` and `ndc sync` run a job: a real run in the persistent Dagster instance, executed
by `ndc` as its run worker with its steps printed as they happen, then summarised from its events and the loads'
records (ops.pipeline.loads).

Dagster, Polars and the warehouse are imported inside the functions: the commands that run no
job (`ndc tables`, `ndc sql`, …) never load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from orchestration.cli_group import NdcGroup, OneLineError
from orchestration.cli_render import console, show_progress
from orchestration.local_defaults import dagster_home


def run_job(
    name: str,
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    only: list[str] | None = None,
):
    """Run a job in the persistent Dagster instance, printing its progress, to its end.

    The run is a real run of the workspace's code location (orchestration/launch.py): it shows in
    the job's Runs tab and the Overview timeline, runs on the job's executor with the pools of
    dagster.yaml, and prints its steps and the loads' progress here as they happen. This process
    is its run worker; ctrl-C stops it. Returns the run's summary (`.success`, `.run_id`,
    `.all_events`) and its id.
    """
    import dagster as dg

    from orchestration import launch
    from orchestration.reclaim import process_tags

    selection = None
    if only is not None:  # the chosen tables' loads, without gold (it needs every table)
        selection = [
            dg.AssetKey([layer, *key.split(".")]) for key in only for layer in ("bronze", "quarantine", "silver")
        ]
    # The run's steps and the loads' lines are printed here from its events (show_progress), and
    # failed steps once, one line each (run_summary); Dagster's own log is for `ndc --debug`.
    dagster_level = "WARNING" if NdcGroup.debug else "CRITICAL"
    run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": dagster_level}}}}
    run_id = None
    with dg.DagsterInstance.get() as instance:
        announce_pool_state(instance)
        # Dagster's own output (the steps' processes, native libraries) goes to a log file in
        # DAGSTER_HOME; `ndc --debug` shows it on the terminal.
        dagster_log = None if NdcGroup.debug else Path(instance.root_directory) / "logs" / "ndc-runs.log"
        try:
            with launch.process_output_to(dagster_log):
                with console.status("loading the code location (workspace.yaml)…"):
                    location = launch.load_code_location(instance)
                created = launch.create_run(
                    instance,
                    location,
                    name,
                    run_config=run_config,
                    # ndc/pid: this process runs it, and reclaim.py frees its pool slots if it dies
                    tags={**(tags or {}), **process_tags()},
                    asset_selection=selection,
                )
                run_id = created.run_id
                console.print(f"started [bold]{name}[/] run {run_id} (DAGSTER_HOME={dagster_home()})")
                run = launch.execute_run(instance, run_id, lambda entry: show_progress(entry, debug=NdcGroup.debug))
        except launch.LaunchError as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:  # outside the execution, which records its own interruption
            if run_id is None:
                raise OneLineError(["interrupted before the run started: nothing was changed"], 130) from None
            status = launch.cancel(instance, run_id, "stopped by ctrl-C in `ndc`")
            raise OneLineError([f"interrupted: run {run_id} stopped ({status})"], 130) from None
        if run.interrupted:
            raise OneLineError(
                [f"interrupted: run {run_id} stopped ({run.status}); the next run completes what it cut short"],
                130,
            )
    return run, run.run_id


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


def run_summary(run_id: str, result) -> dict[str, Any]:
    """What the run did, as `--json` prints it: its loads, one line per failed step, the warehouse."""
    from orchestration.errors import explain_storage_message
    from orchestration.runs import run_failure_lines
    from warehouse.storage import StorageSettings

    loads = run_loads(run_id, result)
    failures = run_failure_lines(result, explain_storage_message)
    return {
        "run_id": run_id,
        "success": result.success,
        "warehouse": StorageSettings.from_env().warehouse_uri,
        "loads": loads,
        "failures": failures,
    }


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
