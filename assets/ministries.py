"""One multi-asset per catalogue table: its bronze, quarantine and silver tables, loaded together.

A load is one unit (see pipeline.load): the three tables and the load record describe the same
run, so they are materialised by one step. Checks: conservation (blocking) and one check per
suite rule, with the rule's severity and the share of rows that broke it.
"""

import json
from dataclasses import dataclass

import dagster as dg
import polars as pl

from assets.partitions import DAILY, watermark_window
from assets.resources import WarehouseResource
from catalogue import Catalogue, CatalogueError, TableRef
from connectors import SourceError
from pipeline.link import PeopleRegister
from pipeline.load import DELETED, KEY_UNSAFE, LoadNames, LoadReport, load_table
from quality.publish import publish_data_docs
from quality.suites import suites_dir
from warehouse.tables import TableName

CONSERVATION = "conservation"
PIPELINE_RULES = {
    "superseded": "an older version of a key delivered in the same load",
    "conflicting_versions": "several versions of a key with the same watermark: no honest winner",
    "cmnd_unresolved": "a legacy CMND the population register does not know",
    "cmnd_ambiguous": "a legacy CMND several citizens hold in the register: never guessed",
    KEY_UNSAFE: "a key that starts like a spreadsheet formula (= + @) or holds a control character",
    "tombstone_without_key": "a row the source flags as deleted that carries no key to delete",
}


class LoadConfig(dg.Config):
    """Which rows a load reads. By default: the run's days (partitioned tables, with the table's
    look-back) or everything newer than the table's high-water mark (file drops). `since` /
    `until` give an explicit watermark window; `full_refresh` reads every row."""

    since: str | None = None
    until: str | None = None
    full_refresh: bool = False


def asset_key(name: TableName) -> dg.AssetKey:
    return dg.AssetKey([name.layer, name.domain, name.table])


@dataclass(frozen=True)
class SuiteRule:
    rule_id: str
    severity: str
    description: str
    mostly: float
    blocking: bool


def suite_rules(suite: str) -> list[SuiteRule]:
    """The rules a suite declares, read from its JSON without importing Great Expectations."""
    document = json.loads((suites_dir() / f"{suite}.json").read_text(encoding="utf-8"))
    rules = []
    for expectation in document.get("expectations", []):
        meta = expectation.get("meta") or {}
        if "rule_id" not in meta:
            continue
        rules.append(
            SuiteRule(
                rule_id=meta["rule_id"],
                severity=meta.get("severity", "error"),
                description=meta.get("description") or expectation.get("type", ""),
                mostly=float((expectation.get("kwargs") or {}).get("mostly", 1.0)),
                blocking=bool(meta.get("blocking", False)),
            )
        )
    return rules


def is_partitioned(ref: TableRef) -> bool:
    """Tables with a timestamp watermark load by day; file drops load by file."""
    return ref.table.watermark is not None and ref.source.connection.kind not in ("csv_folder", "file_drop")


def needs_register(ref: TableRef) -> bool:
    """Tables whose people are linked to the population register load after it."""
    return not ref.entity.population_register and bool(ref.entity.person or ref.entity.personal_id_columns)


def column_schema(ref: TableRef) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.type, description=f"[{c.pii}] {c.description}".strip())
            for c in ref.entity.columns
        ]
    )


def table_assets(ref: TableRef, catalogue: Catalogue) -> dg.AssetsDefinition:
    names = LoadNames.of(ref)
    register_keys = [
        asset_key(LoadNames.of(other).silver)
        for other in catalogue.tables
        if other.entity.population_register and needs_register(ref)
    ]
    common = {
        "group_name": ref.domain,
        "owners": [ref.source.owner] if "@" in ref.source.owner else [],
        "kinds": {"polars", "delta"},
        "tags": {"ministry": ref.source.ministry.lower().replace(" ", "_").replace(",", "")[:63]},
        "skippable": True,
    }
    bronze = asset_key(names.bronze)
    specs = [
        dg.AssetSpec(
            bronze,
            description=f"{ref.table.table or 'query'} from {ref.source.ministry}, rows as extracted plus load columns.",
            **common,
        ),
        dg.AssetSpec(
            asset_key(names.quarantine),
            deps=[bronze],
            description=f"Rows of {ref.key} that broke an error rule: original values, the rules broken, the run.",
            **common,
        ),
        dg.AssetSpec(
            asset_key(names.silver),
            deps=[bronze, *register_keys],
            description=f"{ref.entity.description} Canonical, validated and normalised; "
            f"MERGEd by {', '.join(ref.entity.primary_key)}.",
            metadata={"dagster/column_schema": column_schema(ref)},
            **common,
        ),
    ]
    rules = suite_rules(ref.entity.suite) + [
        SuiteRule(rule_id, "error", description, 1.0, False)
        for rule_id, description in PIPELINE_RULES.items()
    ]
    checks = [
        dg.AssetCheckSpec(
            CONSERVATION,
            asset=asset_key(names.silver),
            blocking=True,
            description="extracted = landed + quarantined + deduplicated for this load",
        ),
        *(
            dg.AssetCheckSpec(
                rule.rule_id,
                asset=asset_key(names.silver),
                blocking=rule.blocking,
                description=f"[{rule.severity}] {rule.description}",
            )
            for rule in rules
        ),
    ]

    partitioned = is_partitioned(ref)

    @dg.multi_asset(
        name=f"load_{ref.domain}__{ref.table.name}",
        specs=specs,
        check_specs=checks,
        can_subset=False,
        partitions_def=DAILY if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        pool=f"source_{ref.source.name}",
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        description=f"Load {ref.key} ({ref.source.ministry}) through bronze, validation and silver.",
    )
    def load(context: dg.AssetExecutionContext, config: LoadConfig, warehouse: WarehouseResource):
        warehouse = warehouse.warehouse()
        people = _people_register(catalogue, warehouse) if register_keys else None
        since, until = config.since, config.until
        window = watermark_window(context, ref.table.lookback) if partitioned else None
        if window is not None and since is None and until is None and not config.full_refresh:
            since, until = window
        try:
            report = load_table(
                ref,
                warehouse,
                run_id=context.run.run_id,
                today=_today(),
                since=since,
                until=until,
                full_refresh=config.full_refresh,
                people=people,
                progress=context.log.info,
            )
        except (SourceError, CatalogueError) as error:
            # Transient trouble (a reset connection, a timeout) is worth the retry policy's
            # backoff; a wrong password or a missing table is not: fail once, clearly.
            if getattr(error, "retryable", False):
                raise
            raise dg.Failure(description=str(error), allow_retries=False) from None
        yield from _materializations(ref, names, report, warehouse)
        yield from _checks(ref, names, report, rules)

    return load


def _today():
    import datetime
    import os

    override = os.environ.get("NDC_TODAY")  # reproducible runs and tests
    return datetime.date.fromisoformat(override) if override else datetime.date.today()


def _people_register(catalogue: Catalogue, warehouse) -> PeopleRegister | None:
    for ref in catalogue.tables:
        if ref.entity.population_register:
            silver = LoadNames.of(ref).silver
            if warehouse.exists(silver):
                # Only the identifying columns: every linked table reads the register again.
                keys = [c for c in ref.entity.person.model_dump().values() if c] if ref.entity.person else []
                citizens = warehouse.scan(silver)
                schema = citizens.collect_schema()
                if DELETED in schema:  # a citizen the register deleted is nobody to link to
                    citizens = citizens.filter(~pl.col(DELETED).fill_null(False))
                columns = [c for c in dict.fromkeys([*keys, "cmnd"]) if c in schema]
                return PeopleRegister.from_citizens(citizens.select(columns).collect(), ref.entity)
    return None


def _materializations(ref: TableRef, names: LoadNames, report: LoadReport, warehouse):
    common = {"run_id": report.run_id, "watermark_to": report.watermark_to}
    yield dg.MaterializeResult(
        asset_key=asset_key(names.bronze),
        metadata={
            **common,
            "dagster/row_count": report.extracted,
            "dagster/uri": warehouse.uri(names.bronze),
            "delta_version": report.bronze_version,
        },
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(names.quarantine),
        metadata={
            **common,
            "rows_quarantined": report.quarantined,
            "dagster/uri": warehouse.uri(names.quarantine),
            "delta_version": report.quarantine_version,
            "rules": dg.MetadataValue.json(report.rule_counts),
        },
    )
    info = warehouse.info(names.silver)
    yield dg.MaterializeResult(
        asset_key=asset_key(names.silver),
        metadata={
            **common,
            "dagster/row_count": info.rows,
            "dagster/uri": info.uri,
            "delta_version": report.silver_version,
            "extracted": report.extracted,
            "landed": report.landed,
            "quarantined": report.quarantined,
            "deduplicated": report.deduplicated,
            "warned": report.warned,
            "linked": report.linked,
            "ambiguous_matches": report.ambiguous,
            "data_docs": dg.MetadataValue.url(
                publish_data_docs([report.validation], warehouse.settings, report.run_id, name=ref.key).url()
            ),
            "preview": dg.MetadataValue.md(
                _masked_preview(ref, warehouse.scan(names.silver).head(5).collect())
            ),
        },
    )


def _checks(ref: TableRef, names: LoadNames, report: LoadReport, rules):
    yield dg.AssetCheckResult(
        asset_key=asset_key(names.silver),
        check_name=CONSERVATION,
        passed=report.balanced,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "extracted": report.extracted,
            "landed": report.landed,
            "quarantined": report.quarantined,
            "deduplicated": report.deduplicated,
        },
    )
    considered = max(report.extracted - report.deduplicated, 1)
    for rule in rules:
        broken = report.rule_counts.get(rule.rule_id, 0)
        yield dg.AssetCheckResult(
            asset_key=asset_key(names.silver),
            check_name=rule.rule_id,
            passed=broken / considered <= 1 - rule.mostly,
            severity=dg.AssetCheckSeverity.ERROR if rule.severity == "error" else dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_broken": broken,
                "percent_broken": round(100 * broken / considered, 3),
                "outcome": "quarantined" if rule.severity == "error" else "landed with a warning flag",
            },
        )


def _masked_preview(ref: TableRef, frame: pl.DataFrame) -> str:
    """A few silver rows for the UI, personal columns masked: the UI is not a way around access control."""
    personal = {c.name for c in ref.entity.columns if c.pii != "none"} | {"_person_id"}
    shown = frame.select(
        [c for c in frame.columns if not c.startswith("_") or c == "_link_method"]
    ).with_columns([pl.lit("•••").alias(c) for c in frame.columns if c in personal])
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_cols=-1,
        fmt_str_lengths=40,
    ):
        return str(shown)


def ministry_assets(catalogue: Catalogue) -> list[dg.AssetsDefinition]:
    return [table_assets(ref, catalogue) for ref in catalogue.tables]
