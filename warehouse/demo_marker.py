"""The mark `ndc demo` leaves in a warehouse it created itself.

Two rules hang on it: the demo may delete or reset only a warehouse that carries the mark, never
whatever NDC_WAREHOUSE_URI points at; and the public demo pseudonym key may build gold only there.
Only a local folder can carry it: a warehouse on S3 is never the demo's to delete, and needs a
real pseudonym key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warehouse.storage import is_s3_uri

MARKER_NAME = "_ndc_demo.json"


def marker_path(warehouse_uri: str) -> Path | None:
    """Where the mark of this warehouse lives, or None when the warehouse cannot carry one (S3)."""
    return None if is_s3_uri(warehouse_uri) else Path(warehouse_uri) / MARKER_NAME


def write_demo_marker(warehouse_uri: str, facts: dict[str, Any]) -> None:
    """Mark `warehouse_uri` as created by the demo, with what it holds (e.g. citizens and seed)."""
    path = marker_path(warehouse_uri)
    if path is None:
        raise ValueError(f"{warehouse_uri}: only a local warehouse can be the demo's own")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts, sort_keys=True) + "\n")


def read_demo_marker(warehouse_uri: str) -> dict[str, Any] | None:
    """The facts the demo wrote, or None when the demo did not create this warehouse."""
    path = marker_path(warehouse_uri)
    if path is None or not path.is_file():
        return None
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def is_demo_warehouse(warehouse_uri: str) -> bool:
    return read_demo_marker(warehouse_uri) is not None
