"""The one `Definitions` of NDC Pipelines: every asset, check, job, schedule and resource."""

from __future__ import annotations

import dagster as dg

from assets.gold import gold_assets
from assets.ministries import ministry_assets
from catalogue import load_catalogue
from orchestration.resources import environment, resources_for

TIMEZONE = "Asia/Ho_Chi_Minh"

catalogue = load_catalogue()

nightly_sync = dg.define_asset_job(
    "nightly_sync",
    selection=dg.AssetSelection.groups(*catalogue.sources, "gold"),
    description="Every ministry table through bronze, validation, quarantine and silver, then gold.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_sync_0100",
    job=nightly_sync,
    cron_schedule="0 1 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sync every ministry at 01:00 Vietnam time, after the ministries' own nightly batches.",
)


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[*ministry_assets(catalogue), *gold_assets(catalogue)],
        jobs=[nightly_sync],
        schedules=[nightly_schedule],
        resources=resources_for(environment()),
    )


defs = build_definitions()
