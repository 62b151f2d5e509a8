"""Data Docs of a load land beside the warehouse: a local folder, or the bucket on a real SeaweedFS."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from quality.publish import data_docs_location, drop_unused_files, publish_data_docs
from tests.fixtures.validation import payment_validation
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, split_s3_uri

SUITE = "welfare_payment"


@pytest.fixture(scope="module")
def payment_result():
    return payment_validation("run-docs")


def test_local_warehouse_gets_the_site_beside_it(tmp_path, payment_result):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "warehouse"))
    docs = publish_data_docs([payment_result], settings, "run-docs", name="welfare.payments")

    assert docs.root == str(tmp_path / "data_docs")
    index = tmp_path / "data_docs" / "run-docs" / "welfare.payments" / "index.html"
    assert SUITE in index.read_text()
    pages = list((index.parent / "validations" / SUITE).rglob("*.html"))
    assert len(pages) == 1 and "amount_vnd" in pages[0].read_text()
    # The link is the validation page itself, as `ndc docs serve` answers it.
    assert Path(docs.location) == pages[0]
    assert docs.url("http://docs:1") == "http://docs:1/" + pages[0].relative_to(tmp_path / "data_docs").as_posix()
    assert (tmp_path / "data_docs" / "_static" / "bootstrap-4.3.1" / "bootstrap.min.css").is_file()
    # GE's unused static assets (MBs of GIFs and fonts) are not copied; what pages use is.
    assert not list(index.parent.rglob("*.gif")) and not list(index.parent.rglob("*.otf"))
    assert (index.parent / "static" / "images" / "favicon.ico").is_file()


def test_each_load_of_a_run_keeps_its_own_index(tmp_path, payment_result):
    settings = StorageSettings(warehouse_uri=str(tmp_path / "warehouse"))
    first = publish_data_docs([payment_result], settings, "run-1", name="welfare.payments")
    empty = publish_data_docs([None], settings, "run-1", name="welfare.beneficiaries")
    assert first.path.startswith("run-1/welfare.payments/validations/")
    assert empty.path == "run-1/welfare.beneficiaries/index.html"
    assert SUITE in Path(first.location).read_text()
    assert SUITE not in Path(empty.location).read_text()


def test_s3_warehouse_gets_the_site_under_docs(seaweedfs, payment_result):
    settings = replace(seaweedfs, warehouse_uri=f"{seaweedfs.warehouse_uri}/warehouse")
    docs = publish_data_docs([payment_result], settings, "run-s3", name="welfare.payments")

    bucket, _ = split_s3_uri(settings.warehouse_uri)
    objects = ObjectStore.of(settings)
    site = f"s3://{bucket}/warehouse/docs/data_docs/run-s3/welfare.payments"
    assert docs.root == f"s3://{bucket}/warehouse/docs/data_docs"
    assert SUITE in objects.read_bytes(f"{site}/index.html").decode()
    keys = [o.uri for o in objects.list(site)]
    pages = [k for k in keys if f"/validations/{SUITE}/" in k and k.endswith(".html")]
    assert pages == [docs.location] and "amount_vnd" in objects.read_bytes(pages[0]).decode()
    assert all(not k.endswith((".gif", ".otf")) for k in keys)
    assert objects.read_bytes(f"{docs.root}/_static/jquery-3.7.1/jquery.min.js").startswith(b"/*! jQuery v3.7.1")


def test_location_rejects_names_that_would_leave_the_docs_folder(tmp_path):
    settings = StorageSettings(warehouse_uri="s3://bucket/wh")
    assert data_docs_location(settings, "r1", "a.b") == "s3://bucket/wh/docs/data_docs/r1/a.b"
    for bad in ("..", "a/b", ""):
        with pytest.raises(ValueError):
            data_docs_location(settings, bad)


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
