"""Feedback files to ministries and the offline HTML report (issue 13), on the hand-made ministries
of tests/fixtures/standard.py, loaded once for the module."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from catalogue import load_catalogue
from pipeline.feedback import HEADERS, SHEET, write_feedback
from pipeline.report import render, report_location, write_report
from pipeline.standard import measure, write_standard
from pipeline.worklist import write_worklists
from tests.fixtures.standard import MEASURED_AT, Ministries, loaded_ministries

__all__ = ["loaded_ministries"]

pytestmark = pytest.mark.slow  # one round of real loads for the module
ARTIFACTS = Path(__file__).parent / "artifacts"


def test_the_outbox_files_hold_exactly_the_open_items_under_vietnamese_headers(loaded_ministries: Ministries) -> None:
    catalogue = load_catalogue()
    write_worklists(catalogue, loaded_ministries.warehouse)
    sent = write_feedback(catalogue, loaded_ministries.warehouse, "social_insurance", dt.date(2026, 11, 29))

    folder = Path(loaded_ministries.warehouse.settings.warehouse_uri) / "outbox" / "social_insurance" / "2026-11-29"
    assert sent.folder == str(folder) and sent.items == 2 and sent.per_table == {"insured_persons": 2}
    workbook = pl.read_excel(folder / "social_insurance_danh_sach_can_sua.xlsx", sheet_name=SHEET)
    assert workbook.columns == list(HEADERS.values())
    assert "Giá trị trong CSDL quốc gia về dân cư" in workbook.columns
    assert workbook["Mã bản ghi"].to_list() == ["0100000002", "0100000004"]  # exactly the open items
    assert workbook["Loại vấn đề"].to_list() == ["Sai lệch với CSDL quốc gia về dân cư", "Vi phạm quy tắc dữ liệu"]
    assert workbook["Quy tắc vi phạm"].to_list() == ["register.date_of_birth", "full_name.required"]
    assert workbook.row(0, named=True)["Giá trị trong CSDL quốc gia về dân cư"] == "1990-07-02"

    raw = (folder / "social_insurance_danh_sach_can_sua.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel shows the diacritics
    csv = pl.read_csv(raw[3:], infer_schema=False)
    assert csv.columns == list(HEADERS.values()) and csv["Mã bản ghi"].to_list() == ["0100000002", "0100000004"]

    # A ministry with nothing open gets files with the headers only; the register's bad ID is its own.
    population = write_feedback(catalogue, loaded_ministries.warehouse, "population", dt.date(2026, 11, 29))
    assert population.items == 1


def test_the_report_is_offline_html_with_inline_svg_and_renders_without_network(
    loaded_ministries: Ministries,
) -> None:
    catalogue = load_catalogue()
    for days_later in (0, 1):  # two days of measurements: a trend
        write_standard(catalogue, loaded_ministries.warehouse, MEASURED_AT + dt.timedelta(days=days_later))
    where = write_report(loaded_ministries.warehouse)
    assert where == report_location(loaded_ministries.warehouse.settings)
    page = Path(where).read_text(encoding="utf-8")

    assert "<svg" in page and "<polyline" in page  # the trend lines, drawn inline
    assert "social_insurance.insured_persons" in page and "Đúng · correct" in page
    assert not re.search(r"(https?:|//[a-z0-9]|<script|<link|<img|@import|url\()", page, re.I), "a reference out"
    assert "80.0%" in page  # insured persons' clean share, as measured by hand in test_data_standard
    assert "Nguyễn" not in page and "0100000004" not in page  # aggregates only
    assert render(pl.DataFrame()).startswith("<!DOCTYPE html>")  # before any measurement: a page, not a crash
    assert measure(catalogue, loaded_ministries.warehouse, MEASURED_AT).height > 0

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: the page was checked, not rendered")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "data_standard_report.png"
    shot.unlink(missing_ok=True)
    # Every name resolves nowhere and every connection goes to a closed proxy: no network at all.
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--window-size=1200,1800",
            f"--screenshot={shot}", Path(where).as_uri(),
        ],
        check=True, timeout=120, capture_output=True,
    )
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank
