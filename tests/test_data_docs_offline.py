"""Data Docs render with no internet and open over HTTP from `ndc docs serve` (local folder and S3).

A load stores only its validation result (as JSON); the server, the real `ndc docs serve` in a
subprocess on a free port, renders the site with Great Expectations on the first request for one
of its pages (the slow part, once per module) and keeps it in the docs root.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from quality.docs import build_data_docs
from quality.docs_server import BadPath, content_type, load_of, safe_path
from quality.offline import STATIC_DIR, VENDORED, external_resources, localise_page
from quality.publish import PublishedDocs, publish_validation
from tests.fixtures.validation import payment_document, payment_validation
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, project_root

SUITE = "welfare_payment"


@pytest.fixture(scope="module")
def payment_result():
    return payment_validation("run-offline")


@pytest.fixture(scope="module")
def local_docs(tmp_path_factory) -> tuple[Path, PublishedDocs]:
    """A load's validation result published to a local warehouse's docs root: nothing rendered."""
    base = tmp_path_factory.mktemp("offline")
    settings = StorageSettings(warehouse_uri=str(base / "warehouse"))
    return base, publish_validation(payment_document("run-offline"), settings, "run-offline", name="welfare.payments")


def _serve(env: dict[str, str]) -> Iterator[str]:
    """`ndc docs serve --port 0` in a subprocess; yields its base URL, read from the startup line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "docs", "serve", "--port", "0"],
        cwd=project_root(),
        env={**os.environ, **env, "NDC_DOCS_URL": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "http://" not in line:
            process.kill()
            raise AssertionError(f"no startup line: {line!r} {process.communicate()[1][-2000:]}")
        host_port = line.split("http://", 1)[1].split("/", 1)[0]
        yield f"http://{host_port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def local_server(local_docs) -> Iterator[str]:
    base, _ = local_docs
    yield from _serve({"NDC_WAREHOUSE_URI": str(base / "warehouse")})


@pytest.fixture(scope="module")
def rendered(local_docs, local_server) -> tuple[Path, PublishedDocs]:
    """The load's link opened once: the server rendered its site into the docs root."""
    base, docs = local_docs
    assert not Path(docs.location).exists()
    status, kind, body = _get(docs.url(local_server))
    assert status == 200 and kind.startswith("text/html") and b"amount_vnd" in body
    return base, docs


def _get(url: str) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    # The path goes out as given: urllib would normalise `..` away before the server saw it.
    connection.request("GET", parts.path or "/")
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type") or "", response.read()


# ---- pure: rewriting and paths ----------------------------------------------------------------


def test_localise_page_points_known_cdn_urls_at_static_and_drops_the_rest():
    page = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        '<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css">'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=2026">'
        "<style>x{background:url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png')}</style>"
        '<a href="https://greatexpectations.io">Great Expectations</a>'
    )
    assert len(external_resources(page)) == 6
    out = localise_page(page, "../_static")
    assert external_resources(out) == set()
    assert 'href="../_static/bootstrap-4.3.1/bootstrap.min.css"' in out
    assert "../_static/fontawesome-free-6.6.0/css/fontawesome.min.css" in out
    assert "../_static/fontawesome-free-6.6.0/css/solid.min.css" in out
    assert "vega" not in out
    assert out.count("../_static/great_expectations/logo-long.png") == 2
    assert "<a>Great Expectations</a>" in out


def test_every_vendored_file_is_there_with_its_licence():
    for files in VENDORED.values():
        for file in files:
            path = STATIC_DIR / file
            assert path.is_file(), file
            folder = STATIC_DIR / file.split("/")[0]
            assert list(folder.glob("LICENSE*")), f"{folder.name} has no licence"


def test_a_loads_site_is_named_by_the_first_two_segments():
    assert load_of("run-1/a.b/validations/x.html") == ("run-1", "a.b")
    assert load_of("run-1/a.b/index.html") == ("run-1", "a.b")
    assert load_of("run-1/index.html") is None
    assert load_of("_static/a/b.css") is None
    assert load_of("validations/run-1/a.b.json") is None


def test_safe_path_refuses_what_leaves_the_root():
    assert safe_path("/") == "index.html"
    assert safe_path("/run/a.b/") == "run/a.b/index.html"
    assert safe_path("/run/x%20y.html?d=1") == "run/x y.html"
    for bad in ("/../etc/passwd", "/a/%2e%2e/%2e%2e/b", "/a\\..\\b", "/./a", "/a/%00"):
        with pytest.raises(BadPath):
            safe_path(bad)


def test_content_types_a_browser_accepts():
    assert content_type("a/b.css") == "text/css; charset=utf-8"
    assert content_type("a/b.js") == "text/javascript; charset=utf-8"
    assert content_type("a/b.woff2") == "font/woff2"
    assert content_type("a/b.html") == "text/html; charset=utf-8"


# ---- GE's real render ------------------------------------------------------------------------


@pytest.mark.slow
def test_every_cdn_url_ge_renders_is_known(tmp_path, payment_result):
    """A GE upgrade that adds a CDN URL fails here, naming it (then vendor it: see the static README)."""
    site = tmp_path / "site"
    build_data_docs([payment_result], site)
    found: set[str] = set()
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        found |= external_resources(path.read_text(encoding="utf-8"))
    resources = {url.split("?")[0] for url in found if not url.startswith("https://greatexpectations.io")}
    assert resources, "the raw render should name CDN URLs: is external_resources still finding them?"
    assert resources <= set(VENDORED), f"not vendored: {sorted(resources - set(VENDORED))}"


@pytest.mark.slow
def test_rendered_pages_name_no_external_url(rendered):
    base, docs = rendered
    root = base / "data_docs"
    files = [*root.rglob("*.html"), *root.rglob("*.css")]
    assert any(p.name == "index.html" for p in files) and len(files) > 3
    leftovers = {str(p.relative_to(root)): external_resources(p.read_text(encoding="utf-8")) for p in files}
    assert {k: v for k, v in leftovers.items() if v} == {}
    # Every relative reference of the validation page resolves to a published file.
    page = Path(docs.location)
    assert page.is_file() and "/validations/" in docs.path
    text = page.read_text(encoding="utf-8")
    assert "_static/bootstrap-4.3.1/bootstrap.min.css" in text
    for reference in [r for r in _references(text) if "_static" in r]:
        assert (page.parent / reference).resolve().is_file(), reference


def _references(text: str) -> list[str]:
    import re

    return re.findall(r"""(?:src|href)=["']([^"'#?]+)""", text)


@pytest.mark.slow
def test_link_is_http_under_ndc_docs_url(local_docs, monkeypatch):
    _, docs = local_docs
    monkeypatch.delenv("NDC_DOCS_URL", raising=False)
    assert docs.url().startswith("http://127.0.0.1:3070/run-offline/welfare.payments/validations/")
    monkeypatch.setenv("NDC_DOCS_URL", "https://docs.ndc.internal/data-docs/")
    assert docs.url() == f"https://docs.ndc.internal/data-docs/{docs.path}"


@pytest.mark.slow
def test_serve_answers_index_page_and_static(rendered, local_server):
    _, docs = rendered
    status, kind, body = _get(f"{local_server}/")
    assert status == 200 and kind.startswith("text/html") and b"run-offline/welfare.payments/index.html" in body

    status, kind, body = _get(f"{local_server}/run-offline/welfare.payments/index.html")
    assert status == 200 and kind.startswith("text/html") and SUITE.encode() in body

    status, kind, body = _get(docs.url(local_server))
    assert status == 200 and kind.startswith("text/html") and b"amount_vnd" in body

    status, kind, body = _get(f"{local_server}/_static/bootstrap-4.3.1/bootstrap.min.css")
    assert status == 200 and kind.startswith("text/css") and body.startswith(b"/*!\n * Bootstrap v4.3.1")
    status, kind, _ = _get(f"{local_server}/_static/fontawesome-free-6.6.0/webfonts/fa-solid-900.woff2")
    assert status == 200 and kind == "font/woff2"
    status, kind, _ = _get(f"{local_server}/_static/jquery-3.7.1/jquery.min.js")
    assert status == 200 and kind.startswith("text/javascript")


@pytest.mark.slow
def test_serve_keeps_what_it_rendered_for_the_next_request_and_the_next_server(local_docs, local_server):
    base, _ = local_docs
    settings = StorageSettings(warehouse_uri=str(base / "warehouse"))
    docs = publish_validation(payment_document("run-kept"), settings, "run-kept", name="welfare.payments")
    status, _, body = _get(docs.url(local_server))
    assert status == 200 and b"amount_vnd" in body and Path(docs.location).is_file()
    # Without the stored result nothing could be rendered again: what answers now is the kept page.
    Path(base / "data_docs" / "validations" / "run-kept" / "welfare.payments.json").unlink()
    assert _get(docs.url(local_server))[:2] == (200, "text/html; charset=utf-8")
    restarted = _serve({"NDC_WAREHOUSE_URI": str(base / "warehouse")})
    try:
        status, _, body = _get(docs.url(next(restarted)))
        assert status == 200 and b"amount_vnd" in body
    finally:
        restarted.close()


@pytest.mark.slow
def test_serve_answers_a_load_with_no_stored_result_with_one_line(local_docs, local_server):
    status, kind, body = _get(f"{local_server}/run-offline/welfare.nothing/index.html")
    assert status == 404 and kind.startswith("text/plain")
    assert body.decode().count("\n") == 1 and "no validation result is stored for load welfare.nothing" in body.decode()
    assert not (local_docs[0] / "data_docs" / "run-offline" / "welfare.nothing").exists()


@pytest.mark.slow
def test_serve_refuses_traversal_and_writes(local_docs, local_server):
    base, _ = local_docs
    (base / "secret.txt").write_text("not for browsers")  # beside the docs root
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/run-offline/..%2f..%2fsecret.txt"):
        status, _, body = _get(f"{local_server}{path}")
        assert status == 400 and b"not for browsers" not in body, path
    assert _get(f"{local_server}/nope.html")[0] == 404
    parts = urlsplit(local_server)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    connection.request("PUT", "/x.html", body=b"x")
    assert connection.getresponse().status == 501
    assert not (base / "data_docs" / "x.html").exists()


@pytest.mark.slow
def test_serve_renders_from_an_s3_warehouse(seaweedfs):
    settings = replace(seaweedfs, warehouse_uri=f"{seaweedfs.warehouse_uri}/served")
    docs = publish_validation(payment_document("run-s3"), settings, "run-s3", name="welfare.payments")
    assert docs.location.startswith("s3://")
    env = {
        "NDC_WAREHOUSE_URI": settings.warehouse_uri,
        "NDC_GOLD_URI": settings.gold_uri or "",
        "NDC_S3_ENDPOINT": settings.endpoint_url or "",
        "AWS_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.access_key_id or "",
        "AWS_SECRET_ACCESS_KEY": settings.secret_access_key or "",
    }
    server = _serve(env)
    base = next(server)
    try:
        status, _, body = _get(f"{base}/")
        assert status == 200 and b"run-s3/welfare.payments/index.html" in body  # listed before rendering
        status, kind, body = _get(docs.url(base))
        assert status == 200 and kind.startswith("text/html") and b"amount_vnd" in body
        assert b"amount_vnd" in ObjectStore.of(settings).read_bytes(docs.location)  # kept in the bucket
        status, kind, body = _get(f"{base}/_static/bootstrap-4.3.1/bootstrap.min.css")
        assert status == 200 and kind.startswith("text/css") and b"Bootstrap v4.3.1" in body
        assert _get(f"{base}/run-s3/welfare.payments/nope.html")[0] == 404
        assert _get(f"{base}/run-s3/welfare.other/index.html")[0] == 404
        assert _get(f"{base}/%2e%2e/secret")[0] == 400
    finally:
        server.close()
