"""Gold: analyst-facing, pseudonymous tables built from every ministry's silver."""

import dagster as dg
import polars as pl

from assets.ministries import asset_key
from assets.nightly import NIGHTLY_FRESHNESS
from assets.resources import PseudonymKeyResource, WarehouseResource
from catalogue import Catalogue
from pipeline.gold import CITIZEN_360, LINKAGE_KPIS, citizen_360, linkage_kpis
from pipeline.link import PERSON_ID
from pipeline.names import DELETED, LoadNames
from warehouse.committed import LOADS
from warehouse.tables import TableName, Warehouse


def gold_assets(catalogue: Catalogue) -> list[dg.AssetsDefinition]:
    silver = {ref.key: LoadNames.of(ref).silver for ref in catalogue.tables}
    people_tables = {
        ref.key: name
        for ref, name in zip(catalogue.tables, silver.values(), strict=True)
        if ref.entity.person
    }
    register = next(LoadNames.of(r).silver for r in catalogue.tables if r.entity.population_register)
    deaths = next(
        (LoadNames.of(r).silver for r in catalogue.tables if r.entity.name == "death_registration"), None
    )
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
        # Before anything is read: with a refused key gold is not written at all.
        key = pseudonym_key.key_bytes_for(warehouse.settings.warehouse_uri)
        frames = {k: live_rows(warehouse, n) for k, n in people_tables.items() if warehouse.exists(n)}
        register_key = next(k for k, n in people_tables.items() if n == register)
        table = citizen_360(
            frames[register_key],
            {k: f for k, f in frames.items() if k != register_key},
            live_rows(warehouse, deaths) if deaths is not None and warehouse.exists(deaths) else None,
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
            k: live_rows(warehouse, n).select(PERSON_ID)
            for k, n in people_tables.items()
            if warehouse.exists(n)
        }
        table = linkage_kpis(frames, warehouse.read(LOADS), live_rows(warehouse, register), ministries)
        version = warehouse.overwrite(kpi_key, table.to_arrow())
        return _result(table, warehouse.uri(kpi_key), version)

    return [citizen_360_asset, linkage_kpis_asset]


def live_rows(warehouse: Warehouse, name: TableName) -> pl.DataFrame:
    """Silver without tombstones: what the sources hold today."""
    rows = warehouse.scan(name)
    if DELETED not in rows.collect_schema():  # silver written before tombstones existed
        return rows.collect()
    return rows.filter(~pl.col(DELETED).fill_null(False)).collect()


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
