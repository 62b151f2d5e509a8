"""File drops: CSV, Excel, Parquet and JSON lines from a local folder and from S3 (real SeaweedFS)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import FILE_COLUMN, ExtractRequest, MalformedFile, SourceSchemaError, open_connector
from connectors.drop_stores import NotARegularFile
from connectors.files import FileDropConnector
from tests.fixtures.workbooks import write_xlsx as workbook

HEADER = ["so_dang_ky", "ngay_dang_ky", "so_dinh_danh", "ho_ten"]


def rows(month: str, count: int) -> list[list[str]]:
    return [[f"{month}-{i:05d}", f"{i % 28 + 1:02d}/{month[5:]}/{month[:4]}", f"{i:012d}", f"Trần Văn Đức {i}"]
            for i in range(count)]


def write_csv(path: Path, records: list[list[str]]) -> None:
    lines = [",".join(HEADER), *(",".join(record) for record in records)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_xlsx(path: Path, records: list[list[str]], *more: tuple[list[list[str]], bool]) -> None:
    """A workbook whose first sheet is `records` under HEADER (tests/fixtures/workbooks.py)."""
    workbook(path, records, *more, header=HEADER)


def settled(*paths: Path, age_s: float = 300) -> None:
    """Date files as dropped `age_s` ago: past the default settle interval (60 s), so ready."""
    stamp = time.time() - age_s
    for path in paths:
        for file in [path] if path.is_file() else path.iterdir():
            os.utime(file, (stamp, stamp), follow_symlinks=False)


def as_table(records: list[list[str]]) -> pa.Table:
    return pa.table({name: [record[i] for record in records] for i, name in enumerate(HEADER)})


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """khai_sinh/: one month per format, plus a file of another kind the connector must ignore."""
    folder = tmp_path / "khai_sinh"
    folder.mkdir()
    write_csv(folder / "2024-01.csv", rows("2024-01", 250))
    write_xlsx(folder / "2024-02.xlsx", rows("2024-02", 40))
    pq.write_table(as_table(rows("2024-03", 120)), folder / "2024-03.parquet", row_group_size=50)
    (folder / "2024-04.jsonl").write_text(
        "".join(json.dumps(dict(zip(HEADER, record, strict=True)), ensure_ascii=False) + "\n"
                for record in rows("2024-04", 30)), encoding="utf-8")
    (folder / "notes.txt").write_text("not data")
    settled(folder)
    return tmp_path


def extract(connector: FileDropConnector, **request: object) -> list[pa.RecordBatch]:
    return list(connector.extract(ExtractRequest(source="ho_tich", table="khai_sinh", **request)))  # type: ignore[arg-type]


def test_every_format_read_with_its_file_name(drop: Path) -> None:
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    batches = extract(connector, batch_rows=60)
    assert all(batch.num_rows <= 60 for batch in batches)
    table = pa.Table.from_batches(
        [batch.select([*HEADER, FILE_COLUMN]) for batch in batches],
    )
    files = table.column(FILE_COLUMN).to_pylist()
    assert files == sorted(files)  # oldest file first
    assert {name: files.count(name) for name in set(files)} == {
        "2024-01.csv": 250, "2024-02.xlsx": 40, "2024-03.parquet": 120, "2024-04.jsonl": 30,
    }
    expected = [*rows("2024-01", 250), *rows("2024-02", 40), *rows("2024-03", 120), *rows("2024-04", 30)]
    assert table.select(HEADER).to_pylist() == as_table(expected).to_pylist()
    assert table.column("so_dinh_danh")[1].as_py() == "000000000001"  # leading zeros kept, as text


def test_window_and_cursor_by_file_name(drop: Path) -> None:
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    files = {b[FILE_COLUMN][0].as_py() for b in extract(connector, since="2024-02", until="2024-04")}
    assert files == {"2024-02.xlsx", "2024-03.parquet"}
    assert connector.list_files(table="khai_sinh") == [
        "2024-01.csv", "2024-02.xlsx", "2024-03.parquet", "2024-04.jsonl"]
    assert connector.list_files(since="2024-02.xlsx", table="khai_sinh") == ["2024-03.parquet", "2024-04.jsonl"]


def test_formats_setting_limits_what_is_read(drop: Path) -> None:
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop), "formats": ["parquet"]})
    assert connector.list_files(table="khai_sinh") == ["2024-03.parquet"]


def test_legacy_csv_folder_labels_rows_with_the_stem(drop: Path) -> None:
    connector = open_connector("ho_tich", "csv_folder", {"path": str(drop)})
    batches = list(connector.extract(ExtractRequest(source="ho_tich", table="khai_sinh", since="2024-01")))
    assert {batch[FILE_COLUMN][0].as_py() for batch in batches} == {"2024-01"}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("2024-05.csv", "so_dang_ky,ho_ten\nA,B\nC,D,E\n", "columns"),
        ("2024-05.csv", b"so_dang_ky,ho_ten\nA,\xff\xfe\n", "utf"),
        ("2024-05.csv", "", "empty"),
        ("2024-05.jsonl", '{"so_dang_ky": "A"}\n{"so_dang_ky": \n', ""),
        ("2024-05.parquet", b"PAR1 not really parquet", ""),
        ("2024-05.xlsx", b"PK not a workbook", "xlsx"),
    ],
)
def test_malformed_file_names_the_file_and_yields_nothing_of_it(
    drop: Path, name: str, content: str | bytes, reason: str
) -> None:
    path = drop / "khai_sinh" / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    settled(path)
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    with pytest.raises(MalformedFile) as caught:
        list(connector.read_file(name, ExtractRequest(source="ho_tich", table="khai_sinh")))
    assert caught.value.file == name and name in str(caught.value) and "ho_tich" in str(caught.value)
    assert reason.lower() in caught.value.reason.lower()
    # extract() gets through the four good months first, then stops at the bad file.
    seen: list[str] = []
    with pytest.raises(MalformedFile):
        for batch in connector.extract(ExtractRequest(source="ho_tich", table="khai_sinh")):
            seen.append(batch[FILE_COLUMN][0].as_py())
    assert name not in seen and len(set(seen)) == 4


def read_back(drop: Path, name: str, header: list[str] | None = None) -> list[dict[str, str | None]]:
    path = drop / "khai_sinh" / name
    settled(path)
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    batches = list(connector.read_file(name, ExtractRequest(source="ho_tich", table="khai_sinh"), header=header))
    return pa.Table.from_batches([batch.select(HEADER) for batch in batches]).to_pylist()


def test_every_sheet_of_a_workbook_is_read_hidden_ones_too_in_any_column_order(drop: Path) -> None:
    reordered = [list(reversed(HEADER)), *(list(reversed(record)) for record in rows("2024-07", 5))]
    write_xlsx(
        drop / "khai_sinh" / "2024-Q3.xlsx", rows("2024-06", 3),
        ([HEADER], False),  # a header alone: no rows to read
        (reordered, True),  # hidden, the same columns in another order
    )
    assert read_back(drop, "2024-Q3.xlsx") == as_table([*rows("2024-06", 3), *rows("2024-07", 5)]).to_pylist()


def test_a_workbook_whose_sheets_have_different_headers_is_quarantined_whole(drop: Path) -> None:
    other = [[*HEADER[:-1], "ghi_chu"], ["x", "01/01/2024", "000000000001", "note"]]
    write_xlsx(drop / "khai_sinh" / "2024-Q4.xlsx", rows("2024-10", 2), (other, False))
    for header in (None, HEADER):
        with pytest.raises(MalformedFile, match="different columns"):
            read_back(drop, "2024-Q4.xlsx", header)


def test_a_sheet_sharing_no_declared_column_is_a_list_not_rows(drop: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A template's hidden dropdown lists, or a notes sheet: not the table's rows, and no reason to
    quarantine the month of rows beside them."""
    lists = [["gioi_tinh"], ["Nam"], ["Nữ"]]
    write_xlsx(drop / "khai_sinh" / "2024-11.xlsx", rows("2024-11", 4), (lists, True))
    with caplog.at_level("WARNING", logger="ndc.connectors"):
        assert read_back(drop, "2024-11.xlsx", HEADER) == as_table(rows("2024-11", 4)).to_pylist()
    assert "2024-11.xlsx: sheet(s) Sheet2 share no declared column" in caplog.text
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    (file,) = [f for f in connector.drop_listing("khai_sinh").ready if f.name == "2024-11.xlsx"]
    version = connector.read_version(file, ExtractRequest(source="ho_tich", table="khai_sinh"), header=HEADER)
    assert version.sheets_left == "Sheet2"  # for the load to say, beside its progress
    assert all(not batch.schema.metadata for batch in version.batches)  # bronze takes no note


def test_rows_under_a_header_that_is_all_wrong_are_quarantined_not_left_as_a_list(drop: Path) -> None:
    """Beside an empty template sheet, the month's rows under display names instead of the declared
    columns share none of them, but the sheet is as wide as the table: read, and the file
    quarantined for its header, never left as a lookup list (they were: 0 rows read, a warning in
    the log)."""
    display = [["Số đăng ký", "Ngày đăng ký", "Số định danh", "Họ tên"], *rows("2024-12", 3)]
    write_xlsx(drop / "khai_sinh" / "2024-12.xlsx", [], (display, False))
    with pytest.raises(MalformedFile, match="header does not match the catalogue: missing column"):
        read_back(drop, "2024-12.xlsx", HEADER)


def test_a_month_under_a_title_line_beside_a_good_month_quarantines_the_workbook(drop: Path) -> None:
    """A title line above the header makes the sheet's header all wrong: its rows are not a list
    (the sheet is as wide as the table), so the workbook is quarantined whole, nothing lost."""
    titled = [["BÁO CÁO THÁNG 2", "", "", ""], HEADER, *rows("2025-02", 3)]
    write_xlsx(drop / "khai_sinh" / "2025-Q1.xlsx", rows("2025-01", 3), (titled, False))
    with pytest.raises(MalformedFile, match="different columns"):
        read_back(drop, "2025-Q1.xlsx", HEADER)


def test_an_empty_month_in_a_template_with_lists_is_read_as_no_rows(drop: Path) -> None:
    """The usual template, sent with no registration that month: its dropdown lists are not rows."""
    lists = [["gioi_tinh", "dan_toc"], ["Nam", "Kinh"], ["Nữ", "Tày"]]
    write_xlsx(drop / "khai_sinh" / "2025-03.xlsx", [], (lists, True))
    settled(drop / "khai_sinh" / "2025-03.xlsx")
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    request = ExtractRequest(source="ho_tich", table="khai_sinh")
    assert sum(batch.num_rows for batch in connector.read_file("2025-03.xlsx", request, header=HEADER)) == 0


def test_a_quoted_line_break_at_a_read_block_edge_stays_in_its_cell(drop: Path) -> None:
    """The CSV reader works in 4 MiB blocks: a line break inside quotes just before a block's edge
    once split its record in two, one row lost and a made-up one in its place."""
    lines = [",".join(HEADER)]
    size = len(lines[0]) + 1
    for record in rows("2024-08", 100_000):
        if size >= (1 << 22) - 200:
            break
        lines.append(",".join(record))
        size += len(lines[-1].encode()) + 1
    number = len(lines) - 1
    pad = (1 << 22) - 5 - size - len(f'2024-08-{number:05d},01/08/2024,,"Trần Thị Bình'.encode())
    lines.append(f'2024-08-{number:05d},01/08/2024,,"Trần Thị Bình{" " * pad}\nxóm Đông, huyện Ý Yên"')
    lines += [f"2024-08-{n:05d},01/08/2024,,Lê Văn {n}" for n in range(number + 1, number + 50)]
    (drop / "khai_sinh" / "2024-08.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_back(drop, "2024-08.csv")
    assert len(read) == len(lines) - 1
    assert [r["so_dang_ky"] for r in read] == [line.split(",")[0] for line in lines[1:]]
    assert read[number]["ho_ten"].endswith("\nxóm Đông, huyện Ý Yên")


def test_only_an_empty_csv_cell_is_missing(drop: Path) -> None:
    text = ",".join(HEADER) + "\nA,N/A,NULL,NA\nB,nan,,\"\"\n"
    (drop / "khai_sinh" / "2024-09.csv").write_text(text, encoding="utf-8")
    assert read_back(drop, "2024-09.csv") == [
        {"so_dang_ky": "A", "ngay_dang_ky": "N/A", "so_dinh_danh": "NULL", "ho_ten": "NA"},
        {"so_dang_ky": "B", "ngay_dang_ky": "nan", "so_dinh_danh": None, "ho_ten": None},
    ]


def test_missing_folder_is_a_schema_error(tmp_path: Path) -> None:
    connector = open_connector("ho_tich", "file_drop", {"path": str(tmp_path)})
    with pytest.raises(SourceSchemaError, match="ho_tich"):
        extract(connector)


def test_missing_column_is_a_schema_error(drop: Path) -> None:
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop), "formats": ["csv"]})
    with pytest.raises(SourceSchemaError, match="cot_la"):
        extract(connector, columns=("so_dang_ky", "cot_la"))


def test_header_must_be_exactly_the_declared_columns_in_any_order(drop: Path) -> None:
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    request = ExtractRequest(source="ho_tich", table="khai_sinh")
    declared = list(reversed(HEADER))
    batch = next(connector.read_file("2024-01.csv", request, header=declared))
    assert batch.schema.names == [*declared, FILE_COLUMN]  # the declared order, whatever the file's
    with pytest.raises(MalformedFile) as caught:
        list(connector.read_file("2024-03.parquet", request, header=[*HEADER[:3], "gioi_tinh"]))
    assert "missing column(s) gioi_tinh" in caught.value.reason
    assert "extra column(s) ho_ten" in caught.value.reason


def test_a_file_is_ready_after_its_settle_interval_or_its_marker(drop: Path) -> None:
    folder = drop / "khai_sinh"
    write_csv(folder / "2024-05.csv", rows("2024-05", 3))  # just written
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop), "settle_s": "30"})
    listing = connector.drop_listing("khai_sinh")
    assert [f.name for f in listing.waiting] == ["2024-05.csv"]
    assert len(listing.ready) == 4
    later = connector.drop_listing("khai_sinh", now_ns=time.time_ns() + 31 * 10**9)
    assert [f.name for f in later.ready][-1] == "2024-05.csv" and later.waiting == []

    marked = open_connector("ho_tich", "file_drop", {"path": str(drop), "complete_marker": ".done"})
    assert marked.drop_listing("khai_sinh").ready == []  # old files, but none declared complete
    (folder / "2024-01.csv.done").touch()
    assert [f.name for f in marked.drop_listing("khai_sinh").ready] == ["2024-01.csv"]
    settled(folder / "2024-01.csv.done", age_s=600)  # a marker older than its file (a re-send)
    assert marked.drop_listing("khai_sinh").ready == []


@pytest.mark.parametrize("settings", [{"settle_s": "-1"}, {"settle_s": "soon"}, {"complete_marker": "a/b"}])
def test_bad_readiness_settings_name_the_source(drop: Path, settings: dict[str, str]) -> None:
    with pytest.raises(SourceSchemaError, match="ho_tich"):
        open_connector("ho_tich", "file_drop", {"path": str(drop), **settings})


def test_symlinks_are_listed_apart_and_never_opened(drop: Path, tmp_path: Path) -> None:
    folder = drop / "khai_sinh"
    outside = tmp_path / "outside.csv"
    write_csv(outside, rows("2099-01", 2))
    (folder / "2099-01.csv").symlink_to(outside)
    (folder / "2099-02.csv").symlink_to(folder / "2024-01.csv")  # even one pointing inside
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    listing = connector.drop_listing("khai_sinh")
    assert listing.not_regular == ["2099-01.csv", "2099-02.csv"]
    assert all(not f.name.startswith("2099") for f in listing.ready + listing.waiting)
    request = ExtractRequest(source="ho_tich", table="khai_sinh")
    for name in ("2099-01.csv", "2099-02.csv"):
        with pytest.raises(NotARegularFile):
            list(connector.read_file(name, request))
    assert {b[FILE_COLUMN][0].as_py() for b in connector.extract(request)} == {
        "2024-01.csv", "2024-02.xlsx", "2024-03.parquet", "2024-04.jsonl"}
    with pytest.raises(NotARegularFile):  # a name is a name in the folder, not a path out of it
        list(connector.read_file("../khai_sinh/2024-01.csv", request))


def test_a_table_folder_that_is_a_symlink_is_refused(drop: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_csv(elsewhere / "2099-01.csv", rows("2099-01", 2))
    settled(elsewhere)
    (drop / "khai_tu").symlink_to(elsewhere, target_is_directory=True)
    connector = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    with pytest.raises(SourceSchemaError, match="symlink"):
        connector.drop_listing("khai_tu")
    with pytest.raises(NotARegularFile):
        list(connector.read_file("2099-01.csv", ExtractRequest(source="ho_tich", table="khai_tu")))


@pytest.mark.slow
def test_s3_prefix_reads_like_a_folder(drop: Path, seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import boto3

    bucket = f"drops-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_key)
    client = boto3.client("s3", endpoint_url=seaweedfs_server.endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    for path in sorted((drop / "khai_sinh").iterdir()):
        client.upload_file(str(path), bucket, f"bo_tu_phap/khai_sinh/{path.name}")
    client.put_object(Bucket=bucket, Key="bo_tu_phap/khai_sinh/nested/2099-01.csv", Body=b"x\n1\n")

    settings = {"s3_uri": f"s3://{bucket}/bo_tu_phap", "endpoint_url": seaweedfs_server.endpoint_url,
                "region": "us-east-1"}
    remote = open_connector("ho_tich", "file_drop", settings)
    local = open_connector("ho_tich", "file_drop", {"path": str(drop)})
    assert remote.list_files(table="khai_sinh") == local.list_files(table="khai_sinh")
    from_s3 = pa.Table.from_batches([b.select([*HEADER, FILE_COLUMN]) for b in extract(remote, batch_rows=100)])
    from_disk = pa.Table.from_batches([b.select([*HEADER, FILE_COLUMN]) for b in extract(local, batch_rows=100)])
    assert from_s3.equals(from_disk)
    remote.check()
