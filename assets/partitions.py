"""Daily partitions in Vietnam time: a partition is one day of the sources' watermark.

The nightly schedule loads yesterday's partition; a backfill is any range of days, run as one run
(each table reads its watermark window once). File drops are not partitioned: a file is its own unit.
"""

import datetime as dt
import os

import dagster as dg

TIMEZONE = "Asia/Ho_Chi_Minh"
# The first day the warehouse keeps history for; older rows come in with a full refresh.
PARTITIONS_START = os.environ.get("NDC_PARTITIONS_START", "2024-01-01")

DAILY = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=TIMEZONE)
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S"  # how ministries write their last-update stamps (local time)


def watermark_window(context: dg.AssetExecutionContext, lookback: dt.timedelta) -> tuple[str, str] | None:
    """The run's days as a watermark window [since, until), opened `lookback` earlier for late rows."""
    if not context.has_partition_key_range:
        return None
    window = context.partition_time_window
    return (window.start - lookback).strftime(WATERMARK_FORMAT), window.end.strftime(WATERMARK_FORMAT)


def range_tags(first: str | None = None, last: str | None = None) -> dict[str, str]:
    """Run tags that make one run cover days `first`..`last` (default: all of history)."""
    keys = DAILY.get_partition_keys()
    return {
        "dagster/asset_partition_range_start": first or keys[0],
        "dagster/asset_partition_range_end": last or keys[-1],
    }
