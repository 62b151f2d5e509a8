"""Sensors: file drops are loaded when the ministry drops a file, not only at night.

One sensor per file-drop table. Its cursor is the newest file it has asked to load, so a file is
requested once, and the cursor lives in Dagster's storage so restarts do not replay. The load
itself reads every file newer than the table's high-water mark (pipeline.load), so even a run
that is lost loses no file: the next one picks it up.
"""

import dagster as dg

from assets.ministries import asset_key
from catalogue import Catalogue, TableRef, resolve_settings
from connectors import open_connector
from connectors.files import FileDropConnector
from pipeline.load import LoadNames

FILE_DROP_KINDS = ("file_drop", "csv_folder")


def file_drop_sensor(ref: TableRef) -> dg.SensorDefinition:
    names = LoadNames.of(ref)

    @dg.sensor(
        name=f"file_drop_{ref.domain}__{ref.table.name}",
        asset_selection=[asset_key(n) for n in (names.bronze, names.quarantine, names.silver)],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Loads {ref.key} whenever {ref.source.ministry} drops a new file.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        connector = open_connector(ref.source.name, ref.source.connection.kind, resolve_settings(ref.source))
        assert isinstance(connector, FileDropConnector)
        new = connector.list_files(since=context.cursor or None, table=ref.table.table)
        if not new:
            return dg.SkipReason(f"no file newer than {context.cursor or 'the start'}")
        newest = connector.file_label(new[-1])
        return dg.SensorResult(
            # One run per batch of new files; its key makes a replayed tick a no-op.
            run_requests=[
                dg.RunRequest(run_key=f"{ref.key}:{newest}", tags={"ndc/files": ",".join(new)[:1000]})
            ],
            cursor=newest,
        )

    return sensor


def file_drop_sensors(catalogue: Catalogue) -> list[dg.SensorDefinition]:
    return [
        file_drop_sensor(ref) for ref in catalogue.tables if ref.source.connection.kind in FILE_DROP_KINDS
    ]
