"""Publish a load's validation result next to the warehouse, where `ndc docs serve` renders it.

A load writes only its validation result, as the JSON GE's result would give (quality/validation.py,
built without Great Expectations: a load never imports it). The server renders the Data Docs
pages from it on their first request and keeps them beside it (quality/render.py):

    S3 warehouse      <NDC_WAREHOUSE_URI>/docs/data_docs/…
    local warehouse   <warehouse dir>/../data_docs/…
    under that root   validations/<run_id>/<name>.json     what a load writes
                      <run_id>/<name>/index.html, …        the pages, rendered on read
                      _static/…                            the vendored CSS/JS/fonts (quality/offline.py)

A browser follows neither file:// nor s3:// links from the Dagster UI, so the link a load records
is http://<NDC_DOCS_URL>/<the page's path under the docs root>, which `ndc docs serve` answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import environment
from quality.offline import STATIC_FOLDER
from quality.validation import validation_page
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri

DOCS_PREFIX = "docs/data_docs"  # under an S3 warehouse root, beside the layers
LOCAL_DOCS_DIR = "data_docs"  # a sibling of a local warehouse folder
DEFAULT_DOCS_PORT = 3070  # `ndc docs serve`; beside the Dagster UI's 3000
VALIDATIONS_FOLDER = "validations"  # under the docs root: one JSON per load, what the pages are rendered from
# First segments under the docs root that are not a run: a run id may not be one of them.
RESERVED_FOLDERS = frozenset({STATIC_FOLDER, VALIDATIONS_FOLDER})


@dataclass(frozen=True)
class PublishedDocs:
    """Where a load's Data Docs page is: `root` (s3:// URI or local folder) and the page under it.

    The page exists once `ndc docs serve` has rendered it (on its first request); the link does
    not wait for that.
    """

    root: str
    path: str  # POSIX, relative to root: the validation page, or index.html when nothing was validated

    @property
    def location(self) -> str:
        """The page in storage, once rendered: an s3:// URI, or a local path."""
        return under(self.root, self.path)

    def url(self, base: str | None = None) -> str:
        """The page as `ndc docs serve` answers it (base: NDC_DOCS_URL, else the local default)."""
        return f"{(base or docs_base_url()).rstrip('/')}/{quote(self.path)}"


def docs_base_url() -> str:
    return environment.settings().docs_url or f"http://127.0.0.1:{DEFAULT_DOCS_PORT}"


def publish_validation(
    document: Mapping[str, Any] | None, settings: StorageSettings, run_id: str, *, name: str
) -> PublishedDocs:
    """Store a load's validation result (quality/validation.py's document) for `ndc docs serve`.

    Writes `<docs root>/validations/<run_id>/<name>.json` (`null` for a load that validated
    nothing: its site is an empty index, as GE renders one) and returns where the validation
    page will be once the server rendered it, for the link the load records. No rendering and no
    Great Expectations here: a few kB written, whatever the table's size.
    """
    root = data_docs_root(settings)
    text = json.dumps(document, ensure_ascii=False, sort_keys=True)
    ObjectStore.of(settings).write_bytes(
        validation_location(settings, run_id, name), text.encode(), content_type="application/json"
    )
    return PublishedDocs(root=root, path=f"{site_path(run_id, name)}/{validation_page(document)}")


def site_path(run_id: str, name: str) -> str:
    """A load's site under the docs root: `<run_id>/<name>` (ValueError for a bad segment)."""
    return f"{_segment('run_id', run_id, reserved=RESERVED_FOLDERS)}/{_segment('name', name)}"


def validation_path(run_id: str, name: str) -> str:
    """A load's stored validation result under the docs root: `validations/<run_id>/<name>.json`."""
    return f"{VALIDATIONS_FOLDER}/{site_path(run_id, name)}.json"


def under(root: str, path: str) -> str:
    """`path` (POSIX, relative) under `root`: an s3:// URI or a local path."""
    if is_s3_uri(root):
        return f"{root.rstrip('/')}/{path}"
    return str(Path(root).joinpath(*path.split("/")))


def validation_location(settings: StorageSettings, run_id: str, name: str) -> str:
    """Where a load's validation result is stored (s3:// URI or local path)."""
    return under(data_docs_root(settings), validation_path(run_id, name))


def data_docs_root(settings: StorageSettings) -> str:
    """The folder (s3:// URI or local path) that holds every run's Data Docs and `_static/`."""
    root = settings.warehouse_uri.rstrip("/")
    if is_s3_uri(root):
        return f"{root}/{DOCS_PREFIX}"
    return str(Path(root).parent / LOCAL_DOCS_DIR)


def data_docs_location(settings: StorageSettings, run_id: str, name: str | None = None) -> str:
    """The folder (s3:// URI or local path) that holds the Data Docs of `run_id` (and `name`)."""
    parts = [_segment("run_id", run_id, reserved=RESERVED_FOLDERS), *([_segment("name", name)] if name else [])]
    return under(data_docs_root(settings), "/".join(parts))


def _segment(kind: str, value: str, *, reserved: frozenset[str] = frozenset()) -> str:
    if not value or "/" in value or "\\" in value or value in (".", ".."):
        raise ValueError(f"{kind} must be one path segment without '/', got {value!r}")
    if value in reserved:
        raise ValueError(f"{kind} may not be {value!r}: the docs root keeps that folder for itself")
    return value
