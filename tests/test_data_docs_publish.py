"""Data Docs of a load land beside the warehouse: a local folder, or the bucket on a real SeaweedFS.

A load stores only its validation result as JSON (quality/publish.py); `ndc docs serve` renders
the site from it on first request (quality/render.py, called directly here).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from quality.publish import data_docs_location, publish_validation, validation_location
from quality.render import drop_unused_files, render_site
from quality.validation import validation_page
from tests.fixtures.validation import payment_document
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, split_s3_uri

SUITE = "welfare_payment"


@pytest.fixture(scope="module")
def payment():
    return payment_document("run-docs")


def test_a_load_stores_only_its_validation_result(tmp_path, payment):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "warehouse"))
    docs = publish_validation(payment, settings, "run-docs", name="welfare.payments")

    stored = tmp_path / "data_docs" / "validations" / "run-docs" / "welfare.payments.json"
    assert validation_location(settings, "run-docs", "welfare.payments") == str(stored)
    assert json.loads(stored.read_text(encoding="utf-8")) == payment
    assert [p for p in (tmp_path / "data_docs").rglob("*") if p.is_file()] == [stored]  # no page, no _static yet
    # The link is the validation page as `ndc docs serve` will answer it, once rendered.
    assert docs.root == str(tmp_path / "data_docs")
    assert docs.path == f"run-docs/welfare.payments/{validation_page(payment)}"
    assert docs.url("http://docs:1") == f"http://docs:1/{docs.path}"


def test_rendering_puts_the_site_where_the_link_points(tmp_path, payment):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "warehouse"))
    docs = publish_validation(payment, settings, "run-docs", name="welfare.payments")
    root = tmp_path / "data_docs"
    assert render_site(payment, settings, str(root), "run-docs", "welfare.payments") == "run-docs/welfare.payments"

    index = root / "run-docs" / "welfare.payments" / "index.html"
    assert SUITE in index.read_text()
    pages = list((index.parent / "validations" / SUITE).rglob("*.html"))
    assert pages == [Path(docs.location)] and "amount_vnd" in pages[0].read_text()
    assert (root / "_static" / "bootstrap-4.3.1" / "bootstrap.min.css").is_file()
    # GE's unused static assets (MBs of GIFs and fonts) are not copied; what pages use is.
    assert not list(index.parent.rglob("*.gif")) and not list(index.parent.rglob("*.otf"))
    assert (index.parent / "static" / "images" / "favicon.ico").is_file()


def test_each_load_of_a_run_keeps_its_own_index(tmp_path, payment):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "warehouse"))
    root = str(tmp_path / "data_docs")
    first = publish_validation(payment, settings, "run-1", name="welfare.payments")
    empty = publish_validation(None, settings, "run-1", name="welfare.beneficiaries")
    assert first.path.startswith("run-1/welfare.payments/validations/")
    assert empty.path == "run-1/welfare.beneficiaries/index.html"
    render_site(payment, settings, root, "run-1", "welfare.payments")
    render_site(None, settings, root, "run-1", "welfare.beneficiaries")
    assert SUITE in Path(first.location).read_text()
    assert SUITE not in Path(empty.location).read_text()


def test_s3_warehouse_gets_the_result_and_the_site_under_docs(seaweedfs, payment):
    settings = replace(seaweedfs, warehouse_uri=f"{seaweedfs.warehouse_uri}/warehouse")
    docs = publish_validation(payment, settings, "run-s3", name="welfare.payments")

    bucket, _ = split_s3_uri(settings.warehouse_uri)
    objects = ObjectStore.of(settings)
    assert docs.root == f"s3://{bucket}/warehouse/docs/data_docs"
    stored = f"{docs.root}/validations/run-s3/welfare.payments.json"
    assert json.loads(objects.read_bytes(stored)) == payment
    render_site(payment, settings, docs.root, "run-s3", "welfare.payments")
    site = f"{docs.root}/run-s3/welfare.payments"
    assert SUITE in objects.read_bytes(f"{site}/index.html").decode()
    keys = [o.uri for o in objects.list(site)]
    pages = [k for k in keys if f"/validations/{SUITE}/" in k and k.endswith(".html")]
    assert pages == [docs.location] and "amount_vnd" in objects.read_bytes(pages[0]).decode()
    assert all(not k.endswith((".gif", ".otf")) for k in keys)
    assert objects.read_bytes(f"{docs.root}/_static/jquery-3.7.1/jquery.min.js").startswith(b"/*! jQuery v3.7.1")


def test_location_rejects_names_that_would_leave_the_docs_folder(tmp_path):
    settings = StorageSettings(warehouse_uri="s3://bucket/wh")
    assert data_docs_location(settings, "r1", "a.b") == "s3://bucket/wh/docs/data_docs/r1/a.b"
    assert validation_location(settings, "r1", "a.b") == "s3://bucket/wh/docs/data_docs/validations/r1/a.b.json"
    for bad in ("..", "a/b", "", "_static", "validations"):
        with pytest.raises(ValueError):
            data_docs_location(settings, bad)
        with pytest.raises(ValueError):
            validation_location(settings, bad, "a.b")


def test_drop_unused_files_keeps_pages_and_what_they_reference(tmp_path):
    (tmp_path / "static" / "images").mkdir(parents=True)
    (tmp_path / "static" / "images" / "used.png").write_bytes(b"x")
    (tmp_path / "static" / "images" / "unused.gif").write_bytes(b"x")
    (tmp_path / "deep" / "page").mkdir(parents=True)
    (tmp_path / "deep" / "page" / "p.html").write_text('<img src="../../static/images/used.png">')
    (tmp_path / "index.html").write_text('<a href="https://example.org/x.gif">x</a><a href="#top">t</a>')
    drop_unused_files(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["deep/page/p.html", "index.html", "static/images/used.png"]
