"""Publish Great Expectations Data Docs next to the warehouse, where the Dagster UI can link to them.

GE 1.x renders Data Docs to a local folder only, so a load renders its validation result into a
temporary folder and copies the pages to the warehouse's storage:

    S3 warehouse      <NDC_WAREHOUSE_URI>/docs/data_docs/<run_id>[/<name>]/index.html   (s3:// URI)
    local warehouse   <warehouse dir>/../data_docs/<run_id>[/<name>]/index.html        (file:// URL)

Only the pages and the local files they refer to are published: GE also writes ~4 MB of static
assets (glossary GIFs, fonts) that no rendered page uses, which would make every load upload
80 times more than it shows.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from quality.docs import build_data_docs
from warehouse.s3 import upload_directory
from warehouse.storage import StorageSettings, is_s3_uri

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

DOCS_PREFIX = "docs/data_docs"  # under an S3 warehouse root, beside the layers
LOCAL_DOCS_DIR = "data_docs"  # a sibling of a local warehouse folder
_LOCAL_REFERENCE = re.compile(r"""(?:href|src)\s*=\s*["'](?![a-z][a-z0-9+.-]*:|#|/)([^"'#?]+)""", re.I)


def publish_data_docs(
    results: Sequence[ExpectationSuiteValidationResult | None],
    settings: StorageSettings,
    run_id: str,
    *,
    name: str | None = None,
) -> str:
    """Render `results` as Data Docs and copy them to the warehouse's docs folder for `run_id`.

    `name` (e.g. the table key) gives each load of a run its own site, so one load's index does
    not replace another's. Returns where index.html landed: an s3:// URI when the warehouse is on
    S3, else a file:// URL. Missing results (a load with nothing new) render an empty index.
    """
    with tempfile.TemporaryDirectory(prefix="ndc-data-docs-") as scratch:
        site = Path(scratch) / "site"
        build_data_docs([r for r in results if r is not None], site)
        drop_unused_files(site)
        destination = data_docs_location(settings, run_id, name)
        if is_s3_uri(destination):
            upload_directory(settings, site, destination)
            return f"{destination}/index.html"
        target = Path(destination)
        shutil.copytree(site, target, dirs_exist_ok=True)
        return (target / "index.html").as_uri()


def data_docs_location(settings: StorageSettings, run_id: str, name: str | None = None) -> str:
    """The folder (s3:// URI or local path) that holds the Data Docs of `run_id` (and `name`)."""
    parts = [_segment("run_id", run_id), *([_segment("name", name)] if name else [])]
    root = settings.warehouse_uri.rstrip("/")
    if is_s3_uri(root):
        return "/".join([root, DOCS_PREFIX, *parts])
    return str(Path(root).parent.joinpath(LOCAL_DOCS_DIR, *parts))


def drop_unused_files(site: Path) -> None:
    """Delete every file that is neither a page nor referred to by a page (href / src)."""
    site = site.resolve()
    keep = set(site.rglob("*.html"))
    keep.update(_referenced_files(site, keep))
    for path in [p for p in site.rglob("*") if p.is_file() and p not in keep]:
        path.unlink()
    for folder in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()


def _referenced_files(site: Path, pages: Iterable[Path]) -> set[Path]:
    found: set[Path] = set()
    for page in pages:
        for reference in _LOCAL_REFERENCE.findall(page.read_text(encoding="utf-8", errors="replace")):
            target = (page.parent / PurePosixPath(reference)).resolve()
            if target.is_file() and target.is_relative_to(site):
                found.add(target)
    return found


def _segment(kind: str, value: str) -> str:
    if not value or "/" in value or "\\" in value or value in (".", ".."):
        raise ValueError(f"{kind} must be one path segment without '/', got {value!r}")
    return value
