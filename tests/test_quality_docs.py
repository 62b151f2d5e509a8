"""Data Docs render compiled (Polars) results as GE pages in a local folder."""

from __future__ import annotations

from quality.docs import build_data_docs, result_from_document
from quality.validation import validation_page
from tests.fixtures.validation import payment_document, payment_validation


def test_data_docs_build_to_a_folder_and_name_the_suite(tmp_path):
    result = payment_validation("docs-run", payment_ids=("p1", "p1", "p3"))
    index = build_data_docs([result], tmp_path / "site")
    assert index == (tmp_path / "site" / "index.html").resolve()
    assert "welfare_payment" in index.read_text()
    pages = list((tmp_path / "site" / "validations" / "welfare_payment" / "docs-run").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "amount_vnd" in page and "paid_on" in page


def test_the_page_a_load_links_is_the_page_ge_renders(tmp_path):
    """A load records its link before anything is rendered: the path must be GE's (a GE upgrade
    that moves pages fails here)."""
    document = payment_document("link-run")
    build_data_docs([result_from_document(document)], tmp_path / "site")
    pages = [p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site" / "validations").rglob("*.html")]
    assert pages == [validation_page(document)]
