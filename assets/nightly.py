"""The nightly run model: unpartitioned tables, a window from each table's own high-water mark.

Why no daily partitions: a load is not a day of data. The nightly load of a table reads from its
high-water mark (the newest watermark its last balanced load read, kept in ops.pipeline.loads)
minus the table's declared look-back, so a night that was missed is caught up by the next one,
and a full refresh is one load. With daily partitions the same full refresh was recorded as one
materialisation per day since 2024 (minutes of bookkeeping), and a complete load showed as
"1,062 missing". Re-reading a range of days is run configuration (`LoadConfig.since/until`,
`ndc sync --since/--until`), as is a full refresh; both are one materialisation per asset.

A missed night is visible through freshness: silver and gold carry a cron freshness policy that
expects a materialisation between the 01:00 schedule and 06:00, Vietnam time.
"""

import datetime as dt

import dagster as dg

TIMEZONE = "Asia/Ho_Chi_Minh"
NIGHTLY_CRON = "0 1 * * *"  # 01:00, after the ministries' own nightly batches
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S"  # how ministries write their last-update stamps (local time)

# The nightly run starts at 01:00 and takes minutes; by 06:00 (before the working day) every
# silver and gold table must have been materialised since 01:00, or it shows as stale.
FRESHNESS_DEADLINE_CRON = "0 6 * * *"
NIGHTLY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron=FRESHNESS_DEADLINE_CRON, lower_bound_delta=dt.timedelta(hours=5), timezone=TIMEZONE
)


def day_window(first: dt.date | None, until: dt.date | None) -> dict[str, str]:
    """Load configuration reading watermarks in [first, until) (days, Vietnam time); either end open."""
    window = {}
    if first is not None:
        window["since"] = dt.datetime.combine(first, dt.time()).strftime(WATERMARK_FORMAT)
    if until is not None:
        window["until"] = dt.datetime.combine(until, dt.time()).strftime(WATERMARK_FORMAT)
    return window
