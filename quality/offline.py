"""Data Docs that render with no internet: every CDN URL of GE's pages points to vendored files.

GE's templates load Bootstrap, jQuery, Font Awesome, bootstrap-table and GE's logo from CDNs; the
national data centre is air-gapped. `VENDORED` maps each such URL to files under
`quality/data_docs_static/` (exact versions, licences beside them; see its README), published once
per docs root as `_static/`. `localise_page` rewrites one page (or CSS file) given the relative
path from it to that folder. An external URL not in the table is left as it is, so that
`external_resources` (and the test built on it) names it after a GE upgrade.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "data_docs_static"
STATIC_FOLDER = "_static"  # beside the sites under the docs root; a run id is a UUID, never this

# CDN URL → vendored files (relative to STATIC_DIR). Empty: the tag is removed (vega draws
# profiling charts, which our validation pages never contain). Several: one tag per file.
VENDORED: dict[str, tuple[str, ...]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": ("bootstrap-4.3.1/bootstrap.min.css",),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": ("bootstrap-4.3.1/bootstrap.min.js",),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery-3.7.1/jquery.min.js",),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": ("popper.js-1.12.9/popper.min.js",),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/fontawesome.min.css",
        "fontawesome-free-6.6.0/css/solid.min.css",
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
    ),
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png": (
        "great_expectations/logo-long.png",
    ),
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png": (
        "great_expectations/logo-long.png",
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": (),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": (),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": (),
}

# An http(s) or protocol-relative URL in an attribute, url(...) or @import: what a browser would fetch.
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']|url\(\s*["']?|@import\s+["'])((?:https?:)?//[^"')\s>]+)""", re.I
)
_URL = "|".join(sorted((re.escape(u) for u in VENDORED), key=len, reverse=True))
_SCRIPT_TAG = re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*["'](?:{_URL})["'][^>]*>\s*</script>""", re.I)
_LINK_TAG = re.compile(rf"""<link\b[^>]*\bhref\s*=\s*["'](?:{_URL})["'][^>]*>""", re.I)
_IN_TAG = re.compile(rf"""({_URL})""")
_ANY_VENDORED = re.compile(rf"""({_URL})(?:\?[^"')\s>]*)?""")  # GE adds `?d=<timestamp>` to its logo
_EXTERNAL_ANCHOR = re.compile(r"""(<a\b[^>]*?)\s+href\s*=\s*["']https?://[^"']*["']""", re.I)


def external_resources(text: str) -> set[str]:
    """Every external URL a page or stylesheet would fetch or link to (anchors included)."""
    return set(_EXTERNAL.findall(text))


def localise_page(text: str, static_href: str) -> str:
    """Point every known CDN URL of `text` at `static_href/<vendored file>`; drop external links.

    `static_href` is the relative path from the page's folder to the `_static` folder (e.g.
    `../../_static`). A link to GE's website or newsletter keeps its text but loses its href:
    nobody in the data centre can follow it.
    """

    def tags(match: re.Match[str]) -> str:
        tag = match.group(0)
        url = _IN_TAG.search(tag)
        assert url is not None  # the tag patterns only match known URLs
        return "".join(tag.replace(url.group(1), f"{static_href}/{file}") for file in VENDORED[url.group(1)])

    text = _SCRIPT_TAG.sub(tags, text)
    text = _LINK_TAG.sub(tags, text)
    # What is left (an <img>, a CSS url(...)) names one file.
    text = _ANY_VENDORED.sub(lambda m: f"{static_href}/{VENDORED[m.group(1)][0]}", text)
    return _EXTERNAL_ANCHOR.sub(r"\1", text)


def static_files() -> list[Path]:
    """The vendored files to publish (licences and the provenance README included)."""
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def static_fingerprint() -> str:
    """A digest of the vendored tree: published again only when it changes."""
    digest = hashlib.sha256()
    for path in static_files():
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
