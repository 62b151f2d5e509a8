"""The one `Definitions` of NDC Pipelines: every asset, check, job, schedule and resource."""

from __future__ import annotations

import dagster as dg

from assets.gold import gold_assets
from assets.maintenance import maintenance_definitions
from assets.ministries import ministry_assets
from assets.nightly import NIGHTLY_CRON, TIMEZONE
from assets.standard import standard_definitions
from catalogue.check import checked_catalogue
from orchestration.alerts import run_failure_alert
from orchestration.executors import executor_for, forkserver_executor
from orchestration.resources import environment, resources_for
from orchestration.sensors import file_drop_sensors
from warehouse.catalog import table_uris

# The offline checks of `ndc check` (catalogue, mappings, suites compiled, register present): a
# catalogue that would fail its loads half-way is refused here, one line per problem.
catalogue = checked_catalogue()

nightly_sync = dg.define_asset_job(
    "nightly_sync",
    selection=dg.AssetSelection.groups(*catalogue.sources, "gold"),
    description="Every ministry table through bronze, validation, quarantine and silver, then gold.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_sync_0100",
    job=nightly_sync,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Each night at 01:00 Vietnam time (after the ministries' own nightly batches): every "
    "ministry table from its high-water mark minus its look-back, the file drops' new files, and gold.",
)


# Large tables are z-ordered on the key analysts filter by.
ZORDER_BY = {f"silver.{ref.domain}.{ref.table.name}": ref.entity.primary_key for ref in catalogue.tables}


# Steps run in parallel, each source's loads limited by its pool (dagster.yaml). Each step is a
# process forked from a server that has already imported the heavy modules, so it starts in about
# a second instead of re-importing everything (issue 9: `spawn`, Dagster's default, cost tens of
# seconds per step). Only imports: building these Definitions starts Polars' thread pool and a
# Tokio runtime, and a process forked after that deadlocks on its first Polars query, so each step
# still builds the Definitions itself (this module is deliberately not in the list).
STEP_PRELOAD = [
    "dagster",
    "polars",
    "pyarrow",
    "pyarrow.dataset",
    "deltalake",
    "connectorx",
    # The SQL sources' own drivers, which log in once before connectorx reads (connectors/sql.py):
    # 0.16 s (psycopg) and 0.07 s (pymysql) of imports in every SQL step's process otherwise.
    "psycopg",
    "pymysql",
    "vietnam_provinces",
    "pipeline.load",
    "pipeline.gold",
    "catalogue.check",
    "assets.ministries",
    "assets.gold",
    "assets.maintenance",
    "orchestration.resources",
    "orchestration.sensors",
    "warehouse.catalog",
]
# A run of a single step (one table's load: `ndc sync --table`) runs it in the run worker, which
# has built all of this already: no forkserver, no preload, no second build (executors.py).
executor = forkserver_executor(STEP_PRELOAD)


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.Definitions(
            assets=[*ministry_assets(catalogue), *gold_assets(catalogue)],
            jobs=[nightly_sync],
            schedules=[nightly_schedule],
            sensors=[*file_drop_sensors(catalogue), run_failure_alert],
            resources=resources_for(environment()),
            executor=executor_for(local=executor),  # NDC_EXECUTOR=k8s: one pod per step
        ),
        maintenance_definitions(table_uris, zorder_by=ZORDER_BY),
        standard_definitions(catalogue),  # issue 13: worklists, data standard, feedback
    )


defs = build_definitions()
