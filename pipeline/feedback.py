"""Feedback to a ministry: its open worklist as files it can open (Excel, and CSV for any tool).

Headers and issue names are in Vietnamese, for the ministry's own staff; the CSV is UTF-8 with a
byte-order mark, so Excel opens the diacritics right. Cells are made inert the way `ndc sql`'s
exports are (warehouse.sql.csv_safe): a value starting like a formula is prefixed with `'`, so
neither file runs a ministry's `=HYPERLINK(…)` on someone's desk.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from catalogue import Catalogue
from pipeline.worklist import open_items
from warehouse.outbox import outbox_folder, put
from warehouse.sql import csv_safe
from warehouse.tables import Warehouse

BOM = "\ufeff".encode()
# Column → its Vietnamese header, in the order the files show them.
HEADERS = {
    "table": "Bảng dữ liệu",
    "record_key": "Mã bản ghi",
    "issue": "Loại vấn đề",
    "rules": "Quy tắc vi phạm",
    "fields": "Trường sai lệch",
    "ministry_values": "Giá trị của bộ, ngành",
    "register_values": "Giá trị trong CSDL quốc gia về dân cư",
    "record": "Bản ghi gốc",
    "watermark": "Thời điểm cập nhật tại nguồn",
    "detected_at": "Thời điểm phát hiện (UTC)",
}
ISSUES = {
    "rules": "Vi phạm quy tắc dữ liệu",
    "register": "Sai lệch với CSDL quốc gia về dân cư",
}
SHEET = "Danh sách cần sửa"


@dataclass(frozen=True)
class Feedback:
    source: str
    day: date
    folder: str
    items: int
    per_table: dict[str, int] = field(default_factory=dict)
    files: tuple[str, ...] = ()


def ministry_items(catalogue: Catalogue, warehouse: Warehouse, source: str) -> pl.DataFrame:
    """The source's open worklist items over all its tables, as the files show them."""
    tables = [ref for ref in catalogue.tables if ref.source.name == source]
    frames = [open_items(warehouse, ref) for ref in tables]
    items = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return (
        items.sort("table", "record_key")
        .select(
            *(
                pl.col(name).replace_strict(ISSUES, default=pl.col(name)) if name == "issue" else pl.col(name)
                for name in HEADERS
            )
        )
        .with_columns(pl.col("detected_at").dt.strftime("%Y-%m-%d %H:%M:%S"))
    )


def vietnamese(items: pl.DataFrame) -> pl.DataFrame:
    """Inert text cells (lists joined with '|') under Vietnamese headers."""
    return csv_safe(items).rename(HEADERS)


def write_feedback(catalogue: Catalogue, warehouse: Warehouse, source: str, day: date) -> Feedback:
    """Write `<outbox>/<source>/<day>/<source>_danh_sach_can_sua.{xlsx,csv}`; what was written."""
    if source not in catalogue.sources:
        raise KeyError(f"no source '{source}' in the catalogue; known: {', '.join(sorted(catalogue.sources))}")
    items = ministry_items(catalogue, warehouse, source)
    sheet = vietnamese(items)
    folder = outbox_folder(warehouse.settings, source, day)
    stem = f"{source}_danh_sach_can_sua"
    workbook = io.BytesIO()
    sheet.write_excel(workbook, worksheet=SHEET, autofit=True, header_format={"bold": True})
    files = (
        put(
            warehouse.settings, folder, f"{stem}.xlsx", workbook.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        put(warehouse.settings, folder, f"{stem}.csv", BOM + sheet.write_csv().encode(), "text/csv; charset=utf-8"),
    )
    per_table = dict(items.group_by("table").len().sort("table").iter_rows()) if items.height else {}
    return Feedback(source, day, folder, items.height, per_table, files)
