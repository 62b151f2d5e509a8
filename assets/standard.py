"""Project 06's data standard in Dagster: the live worklists, gold.kpi.data_standard (with its HTML
report) in the nightly sync, and the feedback files to ministries as their own job."""

from __future__ import annotations

import dagster as dg

from assets.ministries import asset_key
from assets.resources import WarehouseResource
from catalogue import Catalogue
from pipeline.feedback import write_feedback
from pipeline.names import LoadNames
from pipeline.report import write_report
from pipeline.standard import DATA_STANDARD, measurement_day, measurement_time, write_standard
from pipeline.worklist import write_worklists
from warehouse.changes import enable_change_feeds

WORKLISTS = dg.AssetKey(["quarantine", "worklists"])
FEEDBACK = dg.AssetKey(["outbox", "feedback"])


def standard_definitions(catalogue: Catalogue) -> dg.Definitions:
    silver = [asset_key(LoadNames.of(ref).silver) for ref in catalogue.tables]

    # In the gold group so that the nightly sync (which selects it) rebuilds them after silver;
    # the worklists themselves are in the restricted zone.
    @dg.asset(
        key=WORKLISTS,
        group_name="gold",
        kinds={"polars", "delta"},
        deps=silver,
        description="Live worklists (quarantine.<source>.<table>__worklist): one row per record wrong now, "
        "with the rules it broke or its values beside the register's. Restricted zone (personal data).",
    )
    def worklists(warehouse: WarehouseResource) -> dg.MaterializeResult:
        store = warehouse.warehouse()
        # Silver tables created before the change data feed was on get it now (warehouse/changes.py).
        switched = enable_change_feeds(catalogue, store)
        counts = write_worklists(catalogue, store)
        return dg.MaterializeResult(
            metadata={
                "change_feed_switched_on": ", ".join(switched) or "none","open_items": sum(counts.values()), **{f"open_items/{k}": v for k, v in counts.items()}}
        )

    @dg.asset(
        key=asset_key(DATA_STANDARD),
        group_name="gold",
        kinds={"polars", "delta"},
        deps=[*silver, WORKLISTS],
        description="Project 06 data standard per ministry table × 2025 province × day: correct, complete, "
        "clean, live (docs/data-standard.md). Aggregates only. Its HTML report is linked in the metadata.",
    )
    def data_standard(warehouse: WarehouseResource) -> dg.MaterializeResult:
        store = warehouse.warehouse()
        frame, version = write_standard(catalogue, store, measurement_time())
        report = write_report(store)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": frame.height,
                "dagster/uri": store.uri(DATA_STANDARD),
                "delta_version": version,
                "report": dg.MetadataValue.path(report),
            }
        )

    @dg.asset(
        key=FEEDBACK,
        group_name="feedback",
        kinds={"polars", "excel"},
        deps=[WORKLISTS],
        description="Each ministry's open worklist as Excel and CSV (Vietnamese headers) in "
        "<warehouse>/outbox/<ministry>/<date>/: restricted zone, it holds personal data.",
    )
    def feedback(warehouse: WarehouseResource) -> dg.MaterializeResult:
        store = warehouse.warehouse()
        day = measurement_day(measurement_time())
        sent = [write_feedback(catalogue, store, source, day) for source in sorted(catalogue.sources)]
        return dg.MaterializeResult(
            metadata={
                "items": sum(f.items for f in sent),
                **{f"items/{f.source}": f.items for f in sent},
                "outbox": dg.MetadataValue.path(sent[0].folder.rsplit("/", 2)[0]) if sent else "",
            }
        )

    ministry_feedback = dg.define_asset_job(
        "ministry_feedback",
        selection=dg.AssetSelection.assets(FEEDBACK),
        description="Write each ministry's open worklist to its outbox (Excel and CSV).",
    )
    return dg.Definitions(assets=[worklists, data_standard, feedback], jobs=[ministry_feedback])
