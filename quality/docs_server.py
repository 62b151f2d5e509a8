"""A read-only HTTP server for the published Data Docs (`ndc docs serve`).

The Dagster UI links each load to http://<NDC_DOCS_URL>/<path under the docs root>; this serves
that root from the local folder, or from S3 read with the configured credentials (a proxy: no
presigned link that expires, and the browser never needs the storage keys). Only GET and HEAD;
a path that is not a plain relative path under the root (`..`, a backslash, an absolute path) is
refused with 400 before anything is read.
"""

from __future__ import annotations

import html
import mimetypes
import posixpath
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri
from warehouse.store_errors import StorageNotFoundError

# Not in every system's mime.types; a browser refuses a stylesheet served as octet-stream.
_TEXT = "text/plain; charset=utf-8"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".ttf": "font/ttf"}


class BadPath(ValueError):
    """The request path would leave the docs root (or is not a plain path)."""


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


def content_type(path: str) -> str:
    suffix = posixpath.splitext(path)[1].lower()
    guessed = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


class DocsStore:
    """Reads files under the docs root: a local folder or an s3:// prefix."""

    def __init__(self, root: str, settings: StorageSettings) -> None:
        self.root = root.rstrip("/")
        self.settings = settings
        self.objects = ObjectStore.of(settings)

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

    def sites(self) -> list[str]:
        """Paths of every published site's index.html (`<run>/<name>/index.html`), newest last."""
        found = []
        for info in self.objects.list(self.root):
            relative = info.uri[len(self.root) + 1 :].replace("\\", "/")
            parts = relative.split("/")
            if parts[-1] == "index.html" and 2 <= len(parts) <= 3 and parts[0] != "_static":
                found.append(relative)
        return sorted(found)


def root_page(store: DocsStore) -> bytes:
    """`/`: a list of the published sites (the UI links straight to pages; this is for browsing)."""
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
            body = root_page(store) if path == "index.html" else store.read(path)
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
