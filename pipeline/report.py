"""`ndc report`: the data standard as one static HTML page a director can read, offline.

Charts are inline SVG drawn here, styles inline: no script, no font, no CDN, no link out, so the
page opens the same from a laptop, a mail attachment or an air-gapped network. It reads only
gold.kpi.data_standard (aggregates), and is published beside Data Docs:

    local warehouse   <warehouse dir>/../reports/data_standard/index.html
    S3 warehouse      <NDC_WAREHOUSE_URI>/docs/reports/data_standard/index.html
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import polars as pl

from pipeline.standard import ALL, DATA_STANDARD, PROVINCE
from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri
from warehouse.tables import Warehouse

CRITERIA = {  # column → label (Vietnamese / English)
    "pct_correct": "Đúng · correct",
    "pct_complete": "Đủ · complete",
    "pct_clean": "Sạch · clean",
    "pct_live": "Sống · live",
}
COLOURS = ("#1b6ca8", "#d1495b", "#66a182", "#edae49", "#8d6a9f", "#2e4052", "#c26d2c", "#3f88c5", "#7a9e7e")


def report_location(settings: StorageSettings) -> str:
    root = settings.warehouse_uri.rstrip("/")
    if is_s3_uri(root):
        return f"{root}/docs/reports/data_standard/index.html"
    return str(Path(root).parent / "reports" / "data_standard" / "index.html")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _bar(value: float | None, width: int = 120) -> str:
    """A horizontal bar of a share, as inline SVG (grey track, coloured fill, the value beside)."""
    filled = 0 if value is None else max(0.0, min(100.0, value)) * width / 100
    colour = "#999" if value is None else ("#2e7d32" if value >= 95 else "#f9a825" if value >= 80 else "#c62828")
    return (
        f'<svg width="{width + 56}" height="14" role="img" aria-label="{_pct(value)}">'
        f'<rect width="{width}" height="14" fill="#eee"/><rect width="{filled:.1f}" height="14" fill="{colour}"/>'
        f'<text x="{width + 4}" y="11" font-size="11">{_pct(value)}</text></svg>'
    )


def _trend(series: dict[str, list[tuple[str, float | None]]], days: list[str], title: str) -> str:
    """Lines of one criterion over days, one per table, as inline SVG with a legend."""
    width, height, left, top = 640, 180, 36, 12
    plot_w, plot_h = width - left - 270, height - top - 24
    step = plot_w / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / 100)

    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    for tick in (0, 50, 100):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
            f'<text x="2" y="{y(tick) + 4:.1f}" font-size="10">{tick}%</text>'
        )
    for i, day in enumerate(days):
        if len(days) <= 8 or i in (0, len(days) - 1):
            parts.append(f'<text x="{left + i * step - 20:.1f}" y="{height - 6}" font-size="9">{escape(day)}</text>')
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[n % len(COLOURS)]
        xy = [(left + days.index(d) * step, y(v)) for d, v in points if v is not None]
        if len(xy) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                + " ".join(f"{a:.1f},{b:.1f}" for a, b in xy) + '"/>'
            )
        parts.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in xy)
        ly = top + 12 * n + 8
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 24}" y="{ly + 1}" font-size="10">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _by_province(latest: pl.DataFrame) -> pl.DataFrame:
    """Every ministry table together, per province, from the counts (shares do not add up)."""
    rows = latest.filter(pl.col(PROVINCE) != ALL)
    return (
        rows.group_by(PROVINCE)
        .agg(
            pl.col("records").sum(),
            (100 * pl.col("records_correct").sum() / pl.col("records_linked").sum()).alias("pct_correct"),
            (
                (pl.col("pct_complete") * pl.col("records")).sum()
                / pl.col("records").filter(pl.col("pct_complete").is_not_null()).sum()
            ).alias("pct_complete"),
            (100 * pl.col("rows_clean").sum() / pl.col("rows_judged").sum()).alias("pct_clean"),
            (
                100 * pl.col("records_live").sum()
                / pl.col("records").filter(pl.col("pct_live").is_not_null()).sum()
            ).alias("pct_live"),
        )
        .with_columns(pl.col(c).fill_nan(None) for c in CRITERIA)
        .sort(pl.col(PROVINCE) == "unlinked", PROVINCE)
    )


def render(standard: pl.DataFrame) -> str:
    """The whole page from gold.kpi.data_standard's rows (every day kept there)."""
    style = (
        "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}"
        "th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px}"
        "th{background:#f4f4f4}h2{margin-top:32px}.note{color:#555;font-size:12px}"
    )
    head = (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>Chuẩn dữ liệu Đề án 06</title><style>{style}</style></head><body>"
        "<h1>Chuẩn dữ liệu Đề án 06: đúng, đủ, sạch, sống</h1>"
    )
    if not standard.height:
        return head + "<p>Chưa có số liệu (no measurement yet): run the nightly sync or <code>ndc standard</code>.</p></body></html>"
    days = sorted({d.isoformat() for d in standard["day"].to_list()})
    latest_day = max(standard["day"].to_list())
    latest = standard.filter(pl.col("day") == latest_day)
    parts = [head, f'<p class="note">Ngày đo (measured on) {escape(latest_day.isoformat())} · {len(days)} ngày lịch sử</p>']

    parts.append("<h2>Theo bộ, ngành · per ministry</h2><table><tr><th>Bộ, ngành</th><th>Bảng</th><th>Bản ghi</th>")
    parts.extend(f"<th>{escape(label)}</th>" for label in CRITERIA.values())
    parts.append("<th>Độ trễ (giờ) · lag h</th></tr>")
    for row in latest.filter(pl.col(PROVINCE) == ALL).sort("source", "table").iter_rows(named=True):
        lag = "–" if row["lag_hours"] is None else f"{row['lag_hours']:.1f}"
        parts.append(
            f"<tr><td>{escape(row['ministry'])}</td><td>{escape(row['source'])}.{escape(row['table'])}</td>"
            f"<td>{row['records']:,}</td>"
            + "".join(f"<td>{_bar(row[c])}</td>" for c in CRITERIA)
            + f"<td>{lag}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Theo tỉnh, thành (mã 2025) · per province</h2><table><tr><th>Tỉnh</th><th>Bản ghi</th>")
    parts.extend(f"<th>{escape(label)}</th>" for label in CRITERIA.values())
    parts.append("</tr>")
    for row in _by_province(latest).iter_rows(named=True):
        parts.append(
            f"<tr><td>{escape(str(row[PROVINCE]))}</td><td>{row['records']:,}</td>"
            + "".join(f"<td>{_bar(row[c])}</td>" for c in CRITERIA)
            + "</tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Xu hướng · trend</h2>")
    tables = standard.filter(pl.col(PROVINCE) == ALL).sort("day")
    for column, label in CRITERIA.items():
        series: dict[str, list[tuple[str, float | None]]] = {}
        for row in tables.iter_rows(named=True):
            series.setdefault(f"{row['source']}.{row['table']}", []).append((row["day"].isoformat(), row[column]))
        parts.append(f"<h3>{escape(label)}</h3>{_trend(series, days, label)}")
    parts.append(
        '<p class="note">Định nghĩa (definitions): docs/data-standard.md. Số liệu tổng hợp, không có dữ liệu cá nhân '
        "(aggregates only, no personal data).</p></body></html>"
    )
    return "".join(parts)


def write_report(warehouse: Warehouse) -> str:
    """Render gold.kpi.data_standard and publish the page; where it landed."""
    standard = warehouse.read(DATA_STANDARD) if warehouse.exists(DATA_STANDARD) else pl.DataFrame()
    page = render(standard).encode()
    return ObjectStore.of(warehouse.settings).write_bytes(report_location(warehouse.settings), page, content_type="text/html; charset=utf-8")
