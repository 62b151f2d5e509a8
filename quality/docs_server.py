"""An HTTP server for the Data Docs of every load (`ndc docs serve`), rendered on read.

The Dagster UI links each load to http://<NDC_DOCS_URL>/<path under the docs root>; this serves
that root from the local folder, or from S3 read with the configured credentials (a proxy: no
presigned link that expires, and the browser never needs the storage keys). A load stores only
its validation result as JSON (quality/publish.py): the first request for a page of its site
renders the whole site with Great Expectations (quality/render.py) and writes it under the docs
root, so later requests, and a restarted server, read the files.

Read-only toward the warehouse's data: the only writes are rendered pages and `_static/`, under
the docs root. Only GET and HEAD; a path that is not a plain relative path under the root (`..`,
a backslash, an absolute path) is refused with 400 before anything is read. A page of a load
whose validation result is not stored is 404 with one line saying so.
"""

from __future__ import annotations

import html
import json
import mimetypes
import posixpath
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from quality.publish import RESERVED_FOLDERS, VALIDATIONS_FOLDER, validation_path
from quality.render import SITE_INDEX, render_site
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri
from warehouse.store_errors import StorageError, StorageNotFoundError

# Not in every system's mime.types; a browser refuses a stylesheet served as octet-stream.
_TEXT = "text/plain; charset=utf-8"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".ttf": "font/ttf"}


class BadPath(ValueError):
    """The request path would leave the docs root (or is not a plain path)."""


class NoValidation(LookupError):
    """A page of a load whose validation result is not stored: nothing to render it from."""


class CannotRender(RuntimeError):
    """A load's stored validation result could not be rendered (not JSON, or GE refused it)."""


def safe_path(request_path: str) -> str:
    """`/a/b%20c.html?x` → `a/b c.html`; `/` and folders → their index.html. Raises BadPath."""
    path = unquote(urlsplit(request_path).path)
    if "\\" in path or "\0" in path:
        raise BadPath(request_path)
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise BadPath(request_path)
    if not parts or path.endswith("/"):
        parts.append("index.html")
    return "/".join(parts)


def load_of(path: str) -> tuple[str, str] | None:
    """`<run_id>/<name>/<anything>` → (run_id, name), the load whose site holds the path; else None."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] in RESERVED_FOLDERS:
        return None
    return parts[0], parts[1]


def content_type(path: str) -> str:
    suffix = posixpath.splitext(path)[1].lower()
    guessed = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


class DocsStore:
    """Reads files under the docs root (a local folder or an s3:// prefix); renders a load's site
    the first time one of its pages is asked for."""

    def __init__(self, root: str, settings: StorageSettings) -> None:
        self.root = root.rstrip("/")
        self.settings = settings
        self.objects = ObjectStore.of(settings)
        # One render at a time: the ~20 requests of a page's first load wait for one render,
        # then read its files.
        self._rendering = threading.Lock()

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when there is none. `path` is already `safe_path`'s."""
        if not is_s3_uri(self.root):
            root = Path(self.root).resolve()
            target = (root / path).resolve()
            # A symlink inside the root must not lead out of it either.
            if not target.is_relative_to(root) or not target.is_file():
                return None
            return target.read_bytes()
        try:
            return self.objects.read_bytes(f"{self.root}/{path}")
        except StorageNotFoundError:
            return None

    def page(self, path: str) -> bytes | None:
        """The file's bytes, rendering its load's site first when the site is not rendered yet.

        None when there is no such file (in a rendered site, or outside any load's site);
        NoValidation when the path is in a load's site but no validation result is stored for it.
        """
        body = self.read(path)
        load = load_of(path)
        if body is not None or load is None:
            return body
        run_id, name = load
        with self._rendering:
            body = self.read(path)  # a request that waited finds what the render before it wrote
            if body is not None or self.read(f"{run_id}/{name}/{SITE_INDEX}") is not None:
                return body  # rendered already: the file is not in the site
            document = self.validation(run_id, name)
            try:
                render_site(document, self.settings, self.root, run_id, name)
            except StorageError:
                raise  # the storage's own one line, as for any read
            except Exception as error:  # GE raises many unrelated types for a result it cannot render
                raise CannotRender(f"cannot render the Data Docs of load {name} of run {run_id}: {error}") from error
            return self.read(path)

    def validation(self, run_id: str, name: str) -> dict[str, Any] | None:
        """The load's stored validation result (None: the load validated nothing). Raises
        NoValidation when none is stored, CannotRender when it is not a result's JSON."""
        try:
            stored = validation_path(run_id, name)
        except ValueError:  # a segment no load can have: no validation either
            raise NoValidation(f"no validation result is stored for load {name!r} of run {run_id!r}") from None
        text = self.read(stored)
        if text is None:
            raise NoValidation(
                f"no validation result is stored for load {name} of run {run_id} ({stored} under the docs root)"
            )
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CannotRender(f"{stored} is not JSON: {error}") from error
        if document is not None and not isinstance(document, dict):
            raise CannotRender(f"{stored} holds no validation result")
        return document

    def sites(self) -> list[str]:
        """Every load's site index (`<run>/<name>/index.html`), rendered or not yet, oldest first."""
        found: dict[str, int] = {}
        for info in self.objects.list(self.root):
            relative = info.uri[len(self.root) + 1 :].replace("\\", "/")
            parts = relative.split("/")
            if parts[0] == VALIDATIONS_FOLDER and len(parts) == 3 and parts[2].endswith(".json"):
                site = f"{parts[1]}/{parts[2].removesuffix('.json')}/{SITE_INDEX}"
            elif parts[-1] == SITE_INDEX and 2 <= len(parts) <= 3 and parts[0] not in RESERVED_FOLDERS:
                site = relative  # a rendered site (a load before rendering on read published its pages)
            else:
                continue
            found[site] = min(found.get(site, info.modified_ns), info.modified_ns)
        return sorted(found, key=lambda site: (found[site], site))


def root_page(store: DocsStore) -> bytes:
    """`/`: a list of every load's site, newest last (the UI links straight to pages; this is for browsing)."""
    items = "".join(f'<li><a href="{html.escape(p)}">{html.escape(p)}</a></li>' for p in store.sites())
    return (
        "<!doctype html><meta charset=utf-8><title>NDC Data Docs</title>"
        f"<h1>NDC Data Docs</h1><ul>{items or '<li>nothing published yet</li>'}</ul>"
    ).encode()


def make_handler(store: DocsStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ndc-docs"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            try:
                path = safe_path(self.path)
            except BadPath:
                self._send(HTTPStatus.BAD_REQUEST, b"refused: not a path under the docs root\n", _TEXT)
                return
            try:
                body = root_page(store) if path == "index.html" else store.page(path)
            except NoValidation as missing:
                self._send(HTTPStatus.NOT_FOUND, f"not found: {missing}\n".encode(), _TEXT, send_body=send_body)
                return
            except CannotRender as error:
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"{error}\n".encode(), _TEXT, send_body=send_body)
                return
            if body is None:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", _TEXT)
                return
            self._send(HTTPStatus.OK, body, content_type(path), send_body=send_body)

        def _send(self, status: HTTPStatus, body: bytes, kind: str, *, send_body: bool = True) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Refusals and misses only: a page load is ~20 requests, which would bury the startup line.
            if str(code)[:1] in ("4", "5"):
                super().log_request(code, size)

    return Handler


def make_server(store: DocsStore, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(store))
    server.daemon_threads = True
    return server
