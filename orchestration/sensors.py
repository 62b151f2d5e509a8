"""Sensors: file drops are loaded when the ministry drops a file, not only at night.

One sensor per file-drop table. Its cursor is the version (size, modification time, ETag) of each
ready file it has asked to load, so a new file, a late file whatever its name, and a file re-sent
under the same name each start one run, and a file still being written starts none until it is
ready (connectors.files: settle interval or completion marker). The cursor lives in Dagster's
storage so restarts do not replay. The load itself reads every ready version its own cursor (the
load records) has not seen (pipeline.drops), so even a run that is lost loses no file: the next one
picks it up.
"""

import hashlib
import json

import dagster as dg

from assets.ministries import asset_key
from catalogue import Catalogue, TableRef, resolve_settings
from connectors import open_connector
from connectors.drop_stores import DropFile
from connectors.files import FileDropConnector
from pipeline.names import FILE_DROP_SENSOR, LoadNames, table_op_name

FILE_DROP_KINDS = ("file_drop", "csv_folder")


def version_tag(file: DropFile) -> str:
    return f"{file.size}:{file.modified_ns}:{file.etag}"


def requested_versions(cursor: str | None) -> dict[str, str]:
    """The sensor's cursor: file name → version last requested. A cursor of the first version (the
    newest file name) or an unreadable one counts as empty: one run more, and the load's own
    cursor keeps it from reading anything twice."""
    try:
        versions = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    return versions if isinstance(versions, dict) else {}


def file_drop_sensor(ref: TableRef) -> dg.SensorDefinition:
    names = LoadNames.of(ref)

    @dg.sensor(
        name=table_op_name(ref, FILE_DROP_SENSOR),
        asset_selection=[asset_key(n) for n in (names.bronze, names.quarantine, names.silver)],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Loads {ref.key} whenever {ref.source.ministry} drops a new or re-sent file.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        connector = open_connector(ref.source.name, ref.source.connection.kind, resolve_settings(ref.source))
        assert isinstance(connector, FileDropConnector)
        listing = connector.drop_listing(ref.table.table)
        requested = requested_versions(context.cursor)
        new = [file for file in listing.ready if requested.get(file.name) != version_tag(file)]
        waiting = (
            f"; {len(listing.waiting)} still being written (waiting for {connector.waiting_for()})"
            if listing.waiting else ""
        )
        if not new:
            return dg.SkipReason(f"no new or re-sent file ready{waiting}")
        # Only files still present are kept: the cursor does not grow with files removed.
        cursor = {file.name: version_tag(file) for file in listing.ready}
        batch = hashlib.sha256(
            json.dumps([[f.name, version_tag(f)] for f in new]).encode()
        ).hexdigest()[:16]
        return dg.SensorResult(
            # One run per batch of new versions; its key makes a replayed tick a no-op.
            run_requests=[
                dg.RunRequest(
                    run_key=f"{ref.key}:{batch}", tags={"ndc/files": ",".join(f.name for f in new)[:1000]}
                )
            ],
            cursor=json.dumps(cursor, sort_keys=True),
        )

    return sensor


def file_drop_sensors(catalogue: Catalogue) -> list[dg.SensorDefinition]:
    return [
        file_drop_sensor(ref) for ref in catalogue.tables if ref.source.connection.kind in FILE_DROP_KINDS
    ]
