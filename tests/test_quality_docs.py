"""Data Docs render compiled (Polars) results as GE pages in a local folder."""

from __future__ import annotations

from quality.docs import build_data_docs
from tests.fixtures.validation import payment_validation


def test_data_docs_build_to_a_folder_and_name_the_suite(tmp_path):
    result = payment_validation("docs-run", payment_ids=("p1", "p1", "p3"))
    index = build_data_docs([result], tmp_path / "site")
    assert index == (tmp_path / "site" / "index.html").resolve()
    assert "welfare_payment" in index.read_text()
    pages = list((tmp_path / "site" / "validations" / "welfare_payment" / "docs-run").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "amount_vnd" in page and "paid_on" in page
