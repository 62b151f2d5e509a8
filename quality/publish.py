"""Publish Great Expectations Data Docs next to the warehouse, where the Dagster UI can link to them.

GE 1.x renders Data Docs to a local folder only, so a load renders its validation result into a
temporary folder and copies the pages to the docs root in the warehouse's storage:

    S3 warehouse      <NDC_WAREHOUSE_URI>/docs/data_docs/<run_id>[/<name>]/index.html
    local warehouse   <warehouse dir>/../data_docs/<run_id>[/<name>]/index.html
    both              <docs root>/_static/…  the vendored CSS/JS/fonts every page uses (quality/offline.py)

A browser follows neither file:// nor s3:// links from the Dagster UI, so the link a load records
is http://<NDC_DOCS_URL>/<path under the docs root>, which `ndc docs serve` answers.

Only the pages and the local files they refer to are published: GE also writes ~4 MB of static
assets (glossary GIFs, fonts) that no rendered page uses, which would make every load upload
80 times more than it shows. The CDN URLs of the pages are rewritten to `_static/`, so they render
with no internet.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote

import environment
from quality.docs import build_data_docs
from quality.offline import STATIC_DIR, STATIC_FOLDER, localise_page, static_fingerprint
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri
from warehouse.store_errors import StorageError

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

DOCS_PREFIX = "docs/data_docs"  # under an S3 warehouse root, beside the layers
LOCAL_DOCS_DIR = "data_docs"  # a sibling of a local warehouse folder
DEFAULT_DOCS_PORT = 3070  # `ndc docs serve`; beside the Dagster UI's 3000
_FINGERPRINT = ".fingerprint"  # in _static/: which vendored tree is published there
_LOCAL_REFERENCE = re.compile(r"""(?:href|src)\s*=\s*["'](?![a-z][a-z0-9+.-]*:|#|/)([^"'#?]+)""", re.I)


@dataclass(frozen=True)
class PublishedDocs:
    """Where a load's Data Docs landed: `root` (s3:// URI or local folder) and the page under it."""

    root: str
    path: str  # POSIX, relative to root: the validation page, or index.html when nothing was validated

    @property
    def location(self) -> str:
        """The page in storage: an s3:// URI, or a local path."""
        if is_s3_uri(self.root):
            return f"{self.root}/{self.path}"
        return str(Path(self.root).joinpath(*self.path.split("/")))

    def url(self, base: str | None = None) -> str:
        """The page as `ndc docs serve` answers it (base: NDC_DOCS_URL, else the local default)."""
        return f"{(base or docs_base_url()).rstrip('/')}/{quote(self.path)}"


def docs_base_url() -> str:
    return environment.settings().docs_url or f"http://127.0.0.1:{DEFAULT_DOCS_PORT}"


def publish_data_docs(
    results: Sequence[ExpectationSuiteValidationResult | None],
    settings: StorageSettings,
    run_id: str,
    *,
    name: str | None = None,
) -> PublishedDocs:
    """Render `results` as Data Docs and copy them to the warehouse's docs folder for `run_id`.

    `name` (e.g. the table key) gives each load of a run its own site, so one load's index does
    not replace another's. Returns where the validation page landed (the index when `results`
    are all missing: a load with nothing new renders an empty index).
    """
    parts = [_segment("run_id", run_id), *([_segment("name", name)] if name else [])]
    root = data_docs_root(settings)
    with tempfile.TemporaryDirectory(prefix="ndc-data-docs-") as scratch:
        site = Path(scratch) / "site"
        build_data_docs([r for r in results if r is not None], site)
        drop_unused_files(site)
        localise_site(site, parts)
        pages = sorted((site / "validations").rglob("*.html")) if (site / "validations").is_dir() else []
        page = (pages[0] if pages else site / "index.html").relative_to(site).as_posix()
        publish_static(settings, root)
        destination = data_docs_location(settings, run_id, name)
        if is_s3_uri(destination):
            ObjectStore.of(settings).upload_directory(site, destination)
        else:
            shutil.copytree(site, destination, dirs_exist_ok=True)
    return PublishedDocs(root=root, path="/".join([*parts, page]))


def data_docs_root(settings: StorageSettings) -> str:
    """The folder (s3:// URI or local path) that holds every run's Data Docs and `_static/`."""
    root = settings.warehouse_uri.rstrip("/")
    if is_s3_uri(root):
        return f"{root}/{DOCS_PREFIX}"
    return str(Path(root).parent / LOCAL_DOCS_DIR)


def data_docs_location(settings: StorageSettings, run_id: str, name: str | None = None) -> str:
    """The folder (s3:// URI or local path) that holds the Data Docs of `run_id` (and `name`)."""
    parts = [_segment("run_id", run_id), *([_segment("name", name)] if name else [])]
    root = data_docs_root(settings)
    if is_s3_uri(root):
        return "/".join([root, *parts])
    return str(Path(root).joinpath(*parts))


def localise_site(site: Path, parts: Sequence[str]) -> None:
    """Rewrite the CDN URLs of every page and stylesheet of `site` to the docs root's `_static/`.

    `parts` is where the site lands under the docs root, so each file gets the relative path from
    its own final folder (pages sit at different depths).
    """
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        final_dir = posixpath.dirname("/".join([*parts, path.relative_to(site).as_posix()]))
        static_href = posixpath.relpath(STATIC_FOLDER, final_dir)
        text = path.read_text(encoding="utf-8")
        path.write_text(localise_page(text, static_href), encoding="utf-8")


def publish_static(settings: StorageSettings, root: str) -> None:
    """Copy the vendored assets to `<root>/_static/` unless that very tree is already there."""
    fingerprint = static_fingerprint()
    target = f"{root}/{STATIC_FOLDER}" if is_s3_uri(root) else str(Path(root) / STATIC_FOLDER)
    stamp = f"{target}/{_FINGERPRINT}" if is_s3_uri(root) else str(Path(target) / _FINGERPRINT)
    try:
        if ObjectStore.of(settings).read_bytes(stamp).decode() == fingerprint:
            return
    except (OSError, StorageError):
        pass  # not published yet (or unreadable): publish
    if is_s3_uri(root):
        ObjectStore.of(settings).upload_directory(STATIC_DIR, target)
    else:
        shutil.copytree(STATIC_DIR, target, dirs_exist_ok=True)
    # The stamp last: a publish cut short is repeated by the next load.
    ObjectStore.of(settings).write_bytes(stamp, fingerprint.encode(), content_type="text/plain")


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
