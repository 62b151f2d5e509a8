"""Data Docs render compiled (Polars) results as GE pages in a local folder."""

from __future__ import annotations

import datetime as dt

import polars as pl

from quality.compile import compile_suite, flag_rows, rule_counts, validation_result
from quality.docs import build_data_docs
from quality.suites import load_suite


def test_data_docs_build_to_a_folder_and_name_the_suite(tmp_path):
    suite = load_suite("welfare_payment")
    compiled = compile_suite(suite, today=dt.date(2026, 1, 1))
    frame = pl.DataFrame(
        {
            "payment_id": ["p1", "p1", "p3"],
            "beneficiary_id": ["b1", None, "b3"],
            "period": [dt.date(2025, 1, 1)] * 3,
            "amount_vnd": [500_000, 0, 750_000],
            "paid_on": [dt.date(2025, 1, 5), dt.date(2027, 1, 1), None],
            "updated_at": [dt.datetime(2025, 1, 6)] * 3,
        }
    )
    counts = rule_counts(flag_rows(frame, compiled), compiled)
    result = validation_result(compiled, suite, counts, frame.height, "docs-run")
    index = build_data_docs([result], tmp_path / "site")
    assert index == (tmp_path / "site" / "index.html").resolve()
    assert "welfare_payment" in index.read_text()
    pages = list((tmp_path / "site" / "validations" / "welfare_payment" / "docs-run").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "amount_vnd" in page and "paid_on" in page
