"""Data Docs rendered on read: a load's pages, made by `ndc docs serve` on their first request.

A load stores only its validation result, as JSON (quality/publish.py). Rendering it takes Great
Expectations (seconds to import, then its templates): the server pays that once per load that
somebody opens, instead of every load paying it whether anyone looks or not. `render_site` makes
GE's result of the JSON again, renders the site into a temporary folder, keeps only the pages and
the files they use, points their CDN URLs at the vendored `_static/` (so they render with no
internet) and writes them under the docs root, where the next request, or the next server,
finds them.

Only the pages and the local files they refer to are kept: GE also writes ~4 MB of static assets
(glossary GIFs, fonts) that no rendered page uses.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from quality.offline import STATIC_DIR, STATIC_FOLDER, localise_page, static_fingerprint
from quality.publish import site_path, under
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri
from warehouse.store_errors import StorageError

SITE_INDEX = "index.html"  # written last: a site with its index is whole
_FINGERPRINT = ".fingerprint"  # in _static/: which vendored tree is published there
_IMPORTING = threading.Lock()  # GE is imported by one thread (import_renderer)
_LOCAL_REFERENCE = re.compile(r"""(?:href|src)\s*=\s*["'](?![a-z][a-z0-9+.-]*:|#|/)([^"'#?]+)""", re.I)


def import_renderer() -> None:
    """Import Great Expectations and the custom expectations now (seconds): `ndc docs serve` calls
    this in a background thread at start, so the first page somebody opens does not wait for it.

    Under a lock, and render_site calls it too: a request that comes during that import waits for
    it rather than importing GE's modules from a second thread at the same time.
    """
    with _IMPORTING:
        import great_expectations  # noqa: F401

        import quality.docs
        import quality.expectations  # noqa: F401


def render_site(
    document: Mapping[str, Any] | None, settings: StorageSettings, root: str, run_id: str, name: str
) -> str:
    """Render a load's site from its stored validation result (None: nothing was validated, an
    empty index) into `<root>/<run_id>/<name>/`; returns that folder's path under `root`.

    Imports Great Expectations (the server's cost, never a load's). The site's index.html is
    written last, so a render cut short is done again by the next request.
    """
    import_renderer()
    from quality.docs import build_data_docs, result_from_document

    path = site_path(run_id, name)
    with tempfile.TemporaryDirectory(prefix="ndc-data-docs-") as scratch:
        site = Path(scratch) / "site"
        build_data_docs([result_from_document(document)] if document is not None else [], site)
        drop_unused_files(site)
        localise_site(site, path.split("/"))
        publish_static(settings, root)
        write_site(settings, site, under(root, path))
    return path


def write_site(settings: StorageSettings, site: Path, destination: str) -> None:
    """Copy the rendered `site` to `destination` (s3:// URI or local folder), its index last."""
    files = sorted(p for p in site.rglob("*") if p.is_file())
    index = site / SITE_INDEX
    objects = ObjectStore.of(settings)
    for path in [*(p for p in files if p != index), *([index] if index in files else [])]:
        objects.upload_file(path, f"{destination.rstrip('/')}/{path.relative_to(site).as_posix()}")


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
    target, stamp = under(root, STATIC_FOLDER), under(root, f"{STATIC_FOLDER}/{_FINGERPRINT}")
    try:
        if ObjectStore.of(settings).read_bytes(stamp).decode() == fingerprint:
            return
    except (OSError, StorageError):
        pass  # not published yet (or unreadable): publish
    if is_s3_uri(root):
        ObjectStore.of(settings).upload_directory(STATIC_DIR, target)
    else:
        shutil.copytree(STATIC_DIR, target, dirs_exist_ok=True)
    # The stamp last: a publish cut short is repeated by the next render.
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


