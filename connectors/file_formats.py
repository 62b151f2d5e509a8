"""Reading one dropped file into Arrow: CSV, Excel, Parquet, JSON lines.

CSV and Excel columns are read as text (ministry codes keep their leading zeros); Parquet keeps
its own types; JSON lines get the types the values have. A file that cannot be parsed raises
ValueError or an ArrowException (the drop quarantines it whole); `matching_header` checks a
file's columns against the declared ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from connectors.encodings import SAMPLE_BYTES, decode_text, detect_encoding

# Schema metadata on a workbook read: the sheets left as lists, for the reader to name with its file.
SHEETS_LEFT = b"ndc.sheets_left"

FORMATS = {".csv": "csv", ".xlsx": "excel", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class HeaderMismatch(ValueError):
    """A file's columns are not the declared ones."""


def matching_header(found: Sequence[str], declared: Sequence[str]) -> list[str]:
    """The declared columns, in declared order, when the file has exactly those; else HeaderMismatch
    naming what is missing and what is extra."""
    missing = [column for column in declared if column not in found]
    extra = [column for column in found if column not in declared]
    if missing or extra:
        parts = [f"missing column(s) {', '.join(missing)}" if missing else "",
                 f"extra column(s) {', '.join(extra)}" if extra else ""]
        raise HeaderMismatch(
            "header does not match the catalogue: " + "; ".join(p for p in parts if p)
            + f" (expected: {', '.join(declared)})"
        )
    return list(declared)


def reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:300] + "…") if len(text) > 300 else (text or type(error).__name__)


def read_table(
    path: Path, kind: str | None = None, encoding: str = "auto", columns: Sequence[str] | None = None
) -> pa.Table:
    """A whole file as an Arrow table; ValueError/ArrowException when it cannot be parsed. The
    format is `kind`, else the extension's (a path through /proc/self/fd has none). `encoding`
    applies to CSV only: the other formats say their own. `columns`, the declared ones, tell a
    workbook's data sheets from its lists and notes (`read_excel`)."""
    kind = kind or FORMATS.get(path.suffix.lower())
    if kind == "csv":
        return read_csv(path, encoding)
    if kind == "excel":
        return read_excel(path, columns)
    if kind == "parquet":
        return pq.read_table(path)
    if kind == "jsonl":
        if path.stat().st_size == 0:
            return pa.table({})
        return pajson.read_json(path)
    raise ValueError(f"unsupported file type '{kind or path.suffix}'")


def read_csv(path: Path, encoding: str = "auto") -> pa.Table:
    """A CSV with a header; every column as text. UTF-8 is read as it is; a legacy Vietnamese
    encoding (declared, or detected: connectors/encodings.py) is decoded to NFC Unicode first, and
    bytes no encoding explains raise UndecodableText (a ValueError: the file is quarantined)."""
    with path.open("rb") as handle:
        chosen = detect_encoding(handle.read(SAMPLE_BYTES)) if encoding == "auto" else encoding
    source: Path | pa.BufferReader = path
    if chosen in ("utf-8", "utf-8-sig"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    else:
        text, _ = decode_text(path.read_bytes(), chosen)
        header = next(csv.reader(io.StringIO(text, newline="")), None)
        source = pa.BufferReader(text.encode("utf-8"))
    if not header:
        raise ValueError("the file is empty (no header row)")
    if len(set(header)) != len(header):
        raise ValueError(f"duplicate column names in the header: {header}")
    return pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        # A quoted cell may hold a line break (Alt+Enter in a spreadsheet cell): without this, a
        # break that falls before a 4 MiB block's edge split its record in two rows.
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        # Only an empty cell is missing: "NA", "N/A", "NULL" or "nan" are values as sent, for the
        # rules to judge and quarantine to keep (Arrow's default list made them null).
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True, null_values=[""]
        ),
    )


def read_excel(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """Every sheet of an .xlsx workbook that has rows, hidden ones too, every column as text.

    Ministries send a month per sheet; a sheet left unread would be rows lost with nothing to say
    so. With the declared `columns`, a sheet narrower than them that shares none of them (a
    template's dropdown lists, a notes sheet) holds no row of the table and is left, named in the
    table's `SHEETS_LEFT` schema metadata (for the reader to say so, with the file's name), but
    only in a workbook where some sheet, even an empty one, shares them. Every other sheet with
    rows is read. The sheets read must share one header (in any order): a workbook whose sheets
    differ raises ValueError and is quarantined whole, as a CSV with another header is."""
    import polars as pl

    try:
        sheets = pl.read_excel(path, sheet_id=0, infer_schema_length=0, raise_if_empty=False)
    except Exception as error:  # fastexcel raises its own exception types for broken workbooks
        raise ValueError(f"not a readable .xlsx workbook: {error}") from None
    declared = set(columns or ())
    ours = {name: not declared or bool(set(sheet.columns) & declared) for name, sheet in sheets.items()}
    with_rows = [(name, sheet) for name, sheet in sheets.items() if sheet.height]
    # A list or a note is narrow; a month of rows under a title line or display names is as wide as
    # the table, and is read (its header then quarantines the file), never left.
    left = [
        name for name, sheet in with_rows if not ours[name] and sheet.width < len(declared)
    ] if any(ours.values()) else []
    with_rows = [(name, sheet) for name, sheet in with_rows if name not in left]
    if not with_rows:  # headers alone: the table's own header (else the first sheet's), no rows
        headers = sorted(sheets.items(), key=lambda item: not ours[item[0]])
        frame = headers[0][1].clear() if headers else pl.DataFrame()
    else:
        (first_name, first), *others = with_rows
        for name, other in others:
            if sorted(other.columns) != sorted(first.columns):
                raise ValueError(
                    f"sheets {first_name!r} and {name!r} have different columns "
                    f"({', '.join(first.columns)} against {', '.join(other.columns)}): send one header"
                )
        frame = pl.concat([first, *(other.select(first.columns) for _, other in others)])
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    table = table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))
    return table.replace_schema_metadata({SHEETS_LEFT: ", ".join(left)}) if left else table
