"""Gold: analyst-facing, pseudonymous tables built from every ministry's silver."""

from collections.abc import Sequence

import dagster as dg
import polars as pl

from assets.ministries import asset_key
from assets.nightly import NIGHTLY_FRESHNESS
from assets.resources import PseudonymKeyResource, WarehouseResource
from catalogue import Catalogue
from pipeline.gold import (
    CITIZEN_360,
    LINKAGE_KPIS,
    LINKED_COLUMNS,
    PROVINCE_COLUMNS,
    REGISTER_COLUMNS,
    GoldSources,
    PseudonymKeyError,
    citizen_360,
    death_rows,
    linkage_kpis,
)
from pipeline.names import DELETED, LoadNames
from warehouse.committed import LOADS
from warehouse.tables import TableName, Warehouse


def gold_assets(catalogue: Catalogue) -> list[dg.AssetsDefinition]:
    silver = {ref.key: LoadNames.of(ref).silver for ref in catalogue.tables}
    sources = GoldSources.of(catalogue)
    people_tables = {key: silver[key] for key in sources.people}
    register = silver[sources.register]
    deaths = [silver[key] for key in sources.deaths]
    ministries = {name: source.ministry for name, source in catalogue.sources.items()}
    citizen_key, kpi_key = TableName("gold", *CITIZEN_360), TableName("gold", *LINKAGE_KPIS)

    @dg.asset(
        key=asset_key(citizen_key),
        group_name="gold",
        kinds={"polars", "delta"},
        freshness_policy=NIGHTLY_FRESHNESS,  # rebuilt each night after the loads: stale by 06:00 if not
        deps=[asset_key(name) for name in people_tables.values()],
        description="One row per registered person: which ministries know them and vital status across "
        "sources. Pseudonymous: a keyed hash stands for the personal ID.",
    )
    def citizen_360_asset(
        warehouse: WarehouseResource, pseudonym_key: PseudonymKeyResource
    ) -> dg.MaterializeResult:
        warehouse = warehouse.warehouse()
        # Before anything is read: with a refused key gold is not written at all. The key's
        # sentence says what to set; a retry cannot change the environment.
        try:
            key = pseudonym_key.key_bytes_for(warehouse.settings.warehouse_uri)
        except PseudonymKeyError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        known_by = {
            k: live_rows(warehouse, n, LINKED_COLUMNS)
            for k, n in people_tables.items()
            if k != sources.register and warehouse.exists(n)
        }
        table = citizen_360(
            live_rows(warehouse, register, REGISTER_COLUMNS),
            known_by,
            death_rows([live_rows(warehouse, n, LINKED_COLUMNS) for n in deaths if warehouse.exists(n)]),
            key,
        )
        version = warehouse.overwrite(citizen_key, table.to_arrow())
        return _result(table, warehouse.uri(citizen_key), version)

    @dg.asset(
        key=asset_key(kpi_key),
        group_name="gold",
        kinds={"polars", "delta"},
        freshness_policy=NIGHTLY_FRESHNESS,  # rebuilt each night after the loads: stale by 06:00 if not
        deps=[asset_key(name) for name in silver.values()],
        description="Project 06 linkage KPIs per ministry table and province: rows, % linked to the "
        "population register, % quarantined.",
    )
    def linkage_kpis_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        warehouse = warehouse.warehouse()
        frames = {
            k: live_rows(warehouse, n, LINKED_COLUMNS)
            for k, n in people_tables.items()
            if warehouse.exists(n)
        }
        citizens = live_rows(warehouse, register, PROVINCE_COLUMNS)
        table = linkage_kpis(frames, warehouse.read(LOADS), citizens, ministries)
        version = warehouse.overwrite(kpi_key, table.to_arrow())
        return _result(table, warehouse.uri(kpi_key), version)

    return [citizen_360_asset, linkage_kpis_asset]


def live_rows(warehouse: Warehouse, name: TableName, columns: Sequence[str]) -> pl.DataFrame:
    """Silver without tombstones (what the sources hold today), only `columns` (those the table
    has): a lazy scan, so the projection and the tombstone filter reach the Delta reader and the
    rest of the table is never read."""
    return live_scan(warehouse.scan(name), columns).collect()


def live_scan(rows: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    schema = rows.collect_schema()  # the Delta log's schema: no data read
    if DELETED in schema:  # silver written before tombstones existed has no DELETED column
        rows = rows.filter(~pl.col(DELETED).fill_null(False))
    return rows.select([column for column in columns if column in schema])


def _result(table: pl.DataFrame, uri: str, version: int) -> dg.MaterializeResult:
    with pl.Config(
        tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True, tbl_cols=-1
    ):
        preview = str(table.head(10))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "dagster/uri": uri,
            "delta_version": version,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(n, str(t)) for n, t in table.schema.items()]
            ),
            "preview": dg.MetadataValue.md(preview),
        }
    )
