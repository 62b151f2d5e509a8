"""One multi-asset per catalogue table: its bronze, quarantine and silver tables, loaded together.

A load is one unit (see pipeline.load): the three tables and the load record describe the same
run, so they are materialised by one step, unpartitioned (assets.nightly says why). Every
materialisation describes the table as it now is (rows, Delta version, URI, columns) and what
this load did to it. Checks: conservation (blocking, ERROR: a broken balance is a pipeline
failure) and one check per rule, the suite's (quality/rules.py) and the pipeline's own
(pipeline/rules.py), WARN when rows broke it: the source's data, which the pipeline handled by
quarantining or flagging them. A load that read nothing newer than the
table's high-water mark re-states the rule checks of the last load that did (see _checks).

Over 300 lines because it is one factory: the multi-asset, its checks and its metadata are
built from the same table reference and must agree name for name; the work itself is in pipeline/.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import polars as pl

from assets.interrupts import progress_or_stop, stops_are_not_retried
from assets.nightly import NIGHTLY_FRESHNESS
from assets.resources import WarehouseResource
from catalogue import Catalogue, CatalogueError, TableRef
from connectors import SourceError
from pipeline.cursor import high_water_mark
from pipeline.link import PeopleRegister
from pipeline.load import load_table
from pipeline.load_report import LoadReport
from pipeline.names import DELETED, LoadNames, table_op_name
from pipeline.rules import PIPELINE_RULES
from quality.publish import publish_validation
from quality.rules import RuleSpec, suite_rules
from warehouse.tables import TableName, Warehouse

CONSERVATION = "conservation"


class LoadConfig(dg.Config):
    """Which rows a load reads. By default: from the table's high-water mark minus its look-back
    (SQL tables; everything on the first load) or the file versions not read yet (file drops).
    `since` / `until` give an explicit watermark window, read as it is (`YYYY-MM-DD HH:MM:SS`,
    the source's local time); `full_refresh` reads every row."""

    since: str | None = None
    until: str | None = None
    full_refresh: bool = False


def asset_key(name: TableName) -> dg.AssetKey:
    return dg.AssetKey([name.layer, name.domain, name.table])


def reads_by_watermark(ref: TableRef) -> bool:
    """SQL tables read a watermark window; file drops read the file versions not read yet."""
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
            # Loaded each night at 01:00: a silver table not materialised by 06:00 shows as stale.
            freshness_policy=NIGHTLY_FRESHNESS,
            **common,
        ),
    ]
    # One registry: the suite's rules as quality/ reads them for the compiler, then the pipeline's own.
    rules = [*suite_rules(ref.entity.suite), *PIPELINE_RULES]
    checks = [
        dg.AssetCheckSpec(
            CONSERVATION,
            asset=asset_key(names.silver),
            blocking=True,
            description="extracted = landed + quarantined + deduplicated for this load. Fails with ERROR "
            "severity when rows went missing or were counted twice: a pipeline failure, and gold waits.",
        ),
        *(
            dg.AssetCheckSpec(
                rule.rule_id,
                asset=asset_key(names.silver),
                blocking=rule.blocking,
                description=rule_check_description(rule),
            )
            for rule in rules
        ),
    ]

    @dg.multi_asset(
        name=table_op_name(ref),
        specs=specs,
        check_specs=checks,
        can_subset=False,
        pool=f"source_{ref.source.name}",
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        description=f"Load {ref.key} ({ref.source.ministry}) through bronze, validation and silver: "
        "from the table's high-water mark minus its look-back, or the window of the run's config.",
    )
    def load(context: dg.AssetExecutionContext, config: LoadConfig, warehouse: WarehouseResource):
        with stops_are_not_retried(context):  # an interrupt anywhere in the step (assets/interrupts.py)
            warehouse = warehouse.warehouse()
            people = _people_register(catalogue, warehouse) if register_keys else None
            mode = load_mode(config)
            mark = high_water_mark(ref, warehouse) if mode == "nightly" else None
            try:
                report = load_table(
                    ref,
                    warehouse,
                    run_id=context.run.run_id,
                    today=_today(),
                    since=config.since,
                    until=config.until,
                    full_refresh=config.full_refresh,
                    people=people,
                    progress=progress_or_stop(context),
                )
            except (SourceError, CatalogueError) as error:
                # Transient trouble (a reset connection, a timeout) is worth the retry policy's
                # backoff; a wrong password or a missing table is not: fail once, clearly.
                if getattr(error, "retryable", False):
                    raise
                raise dg.Failure(description=str(error), allow_retries=False) from None
            news = load_news(report, mode=mode, mark=mark)
            yield from _materializations(ref, names, report, warehouse, news)
            earlier = _earlier_evaluations(context, asset_key(names.silver), rules) if not news.new_rows else {}
            yield from _checks(ref, names, report, rules, news, earlier)

    return load


def load_mode(config: LoadConfig) -> str:
    """`nightly` (from the high-water mark), `window` (since / until) or `full refresh`; a window
    that is no timestamp, or a full refresh with a window, fails the step once, saying what to give."""
    for field in ("since", "until"):
        value = getattr(config, field)
        try:
            if value is not None:
                dt.datetime.fromisoformat(value)
        except ValueError:
            raise dg.Failure(
                description=f"config {field}={value!r} is not a watermark: give YYYY-MM-DD or YYYY-MM-DD HH:MM:SS",
                allow_retries=False,
            ) from None
    window = config.since is not None or config.until is not None
    if config.full_refresh and window:
        raise dg.Failure(
            description="config full_refresh reads every row: leave since / until out, or full_refresh false",
            allow_retries=False,
        )
    return "full refresh" if config.full_refresh else "window" if window else "nightly"


def rule_check_description(rule: RuleSpec) -> str:
    """What a rule check means, shown in the UI beside its result."""
    handled = "quarantined" if rule.severity == "error" else "landed with a warning flag"
    severity = "ERROR (blocking)" if rule.blocking else "WARN"
    return (
        f"[{rule.severity} rule] {rule.description}. Fails with {severity} severity when rows of the "
        f"load broke it: those rows were {handled}; a statement about the source's data, not a "
        "pipeline failure. A load that read nothing newer than the high-water mark, or a window that "
        "read no row, re-states the outcome of the last load that judged rows (metadata: outcome_of_load)."
    )


@dataclass(frozen=True)
class LoadNews:
    """Whether a load brought rows the table had not seen, in words for the UI."""

    new_rows: bool
    summary: str


def load_news(report: LoadReport, *, mode: str, mark: str | None) -> LoadNews:
    """A nightly load that read nothing newer than the high-water mark found nothing new.

    Its look-back re-reads rows already judged, so its rule counts are not the table's news. An
    explicit window or a full refresh is a deliberate re-read: judged afresh, except a window that
    read no row (no row judged is no rule kept: the checks re-state the last real outcome). A full
    refresh that read none found the source empty: that is the table's state, judged as it is.
    """
    if report.extracted == 0 and mode != "full refresh":
        where = f" since watermark {mark}" if mark else ""
        if mode != "nightly":
            where = f" in the {mode}"
        return LoadNews(False, f"no new rows{where}: nothing extracted")
    if mode != "nightly":
        return LoadNews(True, f"{report.extracted:,} rows read ({mode})")
    if mark is not None and report.watermark_to is not None and report.watermark_to <= mark:
        return LoadNews(
            False,
            f"no new rows since watermark {mark}: {report.extracted:,} rows of the look-back re-read",
        )
    return LoadNews(True, f"{report.extracted:,} rows read, up to watermark {report.watermark_to}")


def _today():
    import datetime

    import environment

    # NDC_TODAY: reproducible runs and tests
    return environment.settings().today or datetime.date.today()


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


def table_metadata(warehouse: Warehouse, name: TableName, descriptions: dict[str, str] | None = None) -> dict:
    """The table as it now is: rows, Delta version, URI and columns (from its Delta schema)."""
    if not warehouse.exists(name):
        return {"dagster/uri": warehouse.uri(name), "dagster/row_count": 0, "delta_version": None}
    table = warehouse.table(name)  # its log read once: rows, version and columns all come from it
    info = warehouse.info(name, table)
    fields = table.schema().to_arrow()
    descriptions = descriptions or {}
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(f.name, str(f.type), description=descriptions.get(f.name, "")) for f in fields
        ]
    )
    return {
        "dagster/uri": info.uri,
        "dagster/row_count": info.rows,
        "delta_version": info.version,
        "dagster/column_schema": schema,
    }


def _materializations(
    ref: TableRef, names: LoadNames, report: LoadReport, warehouse: Warehouse, news: LoadNews
) -> Iterator[dg.MaterializeResult]:
    load = {
        "run_id": report.run_id,
        "this_load": news.summary,
        "new_rows": news.new_rows,
        "watermark_from": report.watermark_from,
        "watermark_to": report.watermark_to,
    }
    yield dg.MaterializeResult(
        asset_key=asset_key(names.bronze),
        metadata={
            **table_metadata(warehouse, names.bronze),
            **load,
            "extracted_this_load": report.extracted,
            # A workbook's lists or notes sheets left unread, beside the rows read (the load record
            # keeps them too: ops.pipeline.loads.sheets_left).
            **({"sheets_left_this_load": "; ".join(report.sheets_left)} if report.sheets_left else {}),
            # Files this load did not read, and why: a later run reads those still being written;
            # links, pipes and devices are never read (both in the load record too).
            **({"files_waiting": report.files_waiting} if report.files_waiting else {}),
            **({"files_not_regular": report.files_not_regular} if report.files_not_regular else {}),
        },
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(names.quarantine),
        metadata={
            **table_metadata(warehouse, names.quarantine),
            **load,
            "quarantined_this_load": report.quarantined,
            "files_quarantined_this_load": report.files_quarantined,
            "rules_this_load": dg.MetadataValue.json(report.rule_counts),
        },
    )
    described = {c.name: f"[{c.pii}] {c.description}".strip() for c in ref.entity.columns}
    yield dg.MaterializeResult(
        asset_key=asset_key(names.silver),
        metadata={
            **table_metadata(warehouse, names.silver, described),
            **load,
            "extracted": report.extracted,
            "landed": report.landed,
            "quarantined": report.quarantined,
            "deduplicated": report.deduplicated,
            "deleted": report.deleted,
            "warned": report.warned,
            "linked": report.linked,
            "ambiguous_matches": report.ambiguous,
            "data_docs": dg.MetadataValue.url(
                # The result alone (a few kB, no GE): `ndc docs serve` renders the page on first request.
                publish_validation(report.validation, warehouse.settings, report.run_id, name=ref.key).url()
            ),
            "preview": dg.MetadataValue.md(
                _masked_preview(ref, warehouse.scan(names.silver).head(5).collect())
            ),
        },
    )


def _earlier_evaluations(
    context: dg.AssetExecutionContext, silver: dg.AssetKey, rules: list[RuleSpec]
) -> dict[str, tuple[str, object]]:
    """The last completed evaluation of each rule check in an earlier run (Dagster's own history)."""
    storage = context.instance.event_log_storage
    earlier = {}
    for rule in rules:
        key = dg.AssetCheckKey(silver, rule.rule_id)
        # The newest records may be this run's own planned evaluation, or a run that died before
        # evaluating: skip to a completed evaluation of an earlier run.
        for record in storage.get_asset_check_execution_history(key, limit=5):
            event = record.event.dagster_event if record.event is not None else None
            evaluated = event is not None and event.event_type_value == "ASSET_CHECK_EVALUATION"
            if evaluated and record.run_id != context.run.run_id:
                earlier[rule.rule_id] = (record.run_id, event.event_specific_data)
                break
    return earlier


def _checks(
    ref: TableRef,
    names: LoadNames,
    report: LoadReport,
    rules: list[RuleSpec],
    news: LoadNews,
    earlier: dict[str, tuple[str, object]],
) -> Iterator[dg.AssetCheckResult]:
    # Conservation is about this load, always: a quiet night's 0 = 0 + 0 + 0 is a real result.
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
            "this_load": news.summary,
        },
    )
    considered = max(report.extracted - report.deduplicated, 1)
    for rule in rules:
        broken = report.rule_counts.get(rule.rule_id, 0)
        this_load = {
            "this_load": news.summary,
            "rows_broken_this_load": broken,
            "outcome": "quarantined" if rule.severity == "error" else "landed with a warning flag",
        }
        if not news.new_rows and rule.rule_id in earlier:
            # Nothing new was judged: re-state the last real outcome rather than turn it green.
            run_id, previous = earlier[rule.rule_id]
            yield dg.AssetCheckResult(
                asset_key=asset_key(names.silver),
                check_name=rule.rule_id,
                passed=previous.passed,
                severity=previous.severity,
                metadata={**_restated(run_id, previous), **this_load, "restated": True},
            )
            continue
        yield dg.AssetCheckResult(
            asset_key=asset_key(names.silver),
            check_name=rule.rule_id,
            passed=broken / considered <= 1 - rule.mostly,
            # Broken rows are the source's data, handled (quarantined or flagged): a warning. Only a
            # rule declared blocking stops gold, which Dagster does for ERROR severity alone.
            severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                **this_load,
                "rows_broken": broken,
                "percent_broken": round(100 * broken / considered, 3),
                "outcome_of_load": report.run_id,
            },
        )


def _restated(run_id: str, previous) -> dict[str, object]:
    """An earlier evaluation's figures, naming the load they came from (kept across quiet nights)."""
    figures = ("rows_broken", "percent_broken", "outcome_of_load")
    kept = {k: v for k, v in previous.metadata.items() if k in figures}
    kept.setdefault("outcome_of_load", dg.MetadataValue.text(run_id))
    return kept


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
