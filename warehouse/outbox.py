"""Files the data centre sends back to ministries: `<warehouse>/outbox/<ministry>/<date>/<file>`.

Under the warehouse root, beside the layers and never under gold: the files hold personal data
(the ministry's own records), so they stay in the restricted zone and its credentials. Local
folder or S3, as the warehouse is.
"""

from __future__ import annotations

import re
from datetime import date

from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings

OUTBOX = "outbox"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def outbox_folder(settings: StorageSettings, ministry: str, day: date) -> str:
    """The folder (path or s3:// URI) of one ministry's files of one day."""
    if not _NAME.match(ministry):
        raise ValueError(f"{ministry!r} is not a source name (lower case letters, digits, _)")
    return f"{settings.warehouse_uri.rstrip('/')}/{OUTBOX}/{ministry}/{day.isoformat()}"


def put(settings: StorageSettings, folder: str, name: str, data: bytes, content_type: str) -> str:
    """Write one file into an outbox folder (replacing a file of the same name); where it landed."""
    return ObjectStore.of(settings).write_bytes(f"{folder}/{name}", data, content_type=content_type)
