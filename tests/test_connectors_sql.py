"""SQL connector: query building, quoting and redaction (pure), and the cases every real server
must pass (`SqlServerCases`, run against PostgreSQL and MariaDB by the per-server test files)."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors import ExtractRequest, open_connector
from connectors.errors import (
    SourceAuthError,
    SourceError,
    SourceSchemaError,
    SourceTimeout,
    SourceUnreachable,
    redact,
    redact_url,
    url_secrets,
)
from connectors.sql import build_query, classify_error, dialect_of, quote_identifier, timeout_statements
from tests.fixtures.servers import DatabaseServer, free_port

# ---- pure: dialects, quoting, query building, redaction ----------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "dialect"),
    [
        ("postgresql://u:p@h:5432/db", "postgres", "postgres"),
        ("mysql://u:p@h/db", "mysql", "mysql"),
        ("mysql://u:p@h/db", "mariadb", "mariadb"),
        ("mssql://u:p@h:1433/db?encrypt=true", "mssql", "mssql"),
        ("oracle://u:p@h:1521/service", "oracle", "oracle"),
        ("sqlite:///tmp/x.sqlite", "sqlite", "sqlite"),
    ],
)
def test_dialect_follows_url_scheme(url: str, kind: str, dialect: str) -> None:
    assert dialect_of(url, kind) == dialect


def test_kind_and_scheme_must_agree() -> None:
    with pytest.raises(ValueError, match="does not match"):
        dialect_of("mysql://u:p@h/db", "postgres")


@pytest.mark.parametrize(
    ("dialect", "quoted"),
    [
        ("postgres", '"ngay ""cap"" nhat]`"'),
        ("sqlite", '"ngay ""cap"" nhat]`"'),
        ("oracle", '"ngay ""cap"" nhat]`"'),
        ("mysql", '`ngay "cap" nhat]```'),
        ("mariadb", '`ngay "cap" nhat]```'),
        ("mssql", '[ngay "cap" nhat]]`]'),
    ],
)
def test_quoting_doubles_the_dialects_quote(dialect: str, quoted: str) -> None:
    assert quote_identifier('ngay "cap" nhat]`', dialect) == quoted  # type: ignore[arg-type]


def test_query_with_columns_schema_table_and_window() -> None:
    request = ExtractRequest(
        source="s", table="dbo.cong_dan", columns=("so_dinh_danh", "ho_ten"),
        watermark_column="ngay_cap_nhat", since="2024-01-01", until="2024-02-01",
    )
    assert build_query(request, "mssql") == (
        "SELECT [so_dinh_danh], [ho_ten] FROM [dbo].[cong_dan] "
        "WHERE [ngay_cap_nhat] >= '2024-01-01' AND [ngay_cap_nhat] < '2024-02-01'"
    )


def test_query_source_is_wrapped_without_as_for_oracle() -> None:
    request = ExtractRequest(source="s", query="SELECT * FROM T", watermark_column="UPDATED", since="x")
    assert build_query(request, "oracle") == "SELECT * FROM (SELECT * FROM T) src WHERE \"UPDATED\" >= 'x'"


@pytest.mark.parametrize(("dialect", "literal"), [("postgres", r"'a''b\'"), ("mysql", r"'a''b\\'")])
def test_literals_cannot_escape_their_quotes(dialect: str, literal: str) -> None:
    request = ExtractRequest(source="s", table="t", watermark_column="w", since="a'b\\")
    assert build_query(request, dialect).endswith(f"{quote_identifier('w', dialect)} >= {literal}")  # type: ignore[arg-type]


def test_table_or_query_exactly_one() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        build_query(ExtractRequest(source="s"), "postgres")


def test_timeout_statements_per_dialect() -> None:
    assert timeout_statements("postgres", 1.5) == ["SET statement_timeout = 1500"]
    assert timeout_statements("mysql", 2) == ["SET SESSION max_execution_time = 2000"]
    assert timeout_statements("mariadb", 0.25) == ["SET SESSION max_statement_time = 0.250"]
    assert timeout_statements("mssql", 5) == []
    assert timeout_statements("postgres", None) == []


def test_redaction_hides_passwords_in_urls_and_messages() -> None:
    url = "mssql://sa:p%40ss%2Fw0rd@db.bo-tu-phap.gov.vn:1433/hotich"
    assert redact_url(url) == "mssql://sa:***@db.bo-tu-phap.gov.vn:1433/hotich"
    assert set(url_secrets(url)) == {"p%40ss%2Fw0rd", "p@ss/w0rd"}
    message = redact(f"login with p@ss/w0rd failed for {url}", url_secrets(url))
    assert "p@ss" not in message and "w0rd" not in message and "***" in message


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Login failed for user 'sa'.", SourceAuthError),
        ("ORA-01017: invalid username/password; logon denied", SourceAuthError),
        ("Invalid object name 'dbo.nope'.", SourceSchemaError),
        ("ORA-00942: table or view does not exist", SourceSchemaError),
        ("no such table: nope", SourceSchemaError),
        ("ORA-01013: user requested cancel of current operation", SourceTimeout),
        ("error connecting to server: Connection reset by peer", SourceUnreachable),
        ('syntax error at or near "SELEC"', SourceError),
    ],
)
def test_classification_of_other_servers_messages(message: str, kind: type[SourceError]) -> None:
    error = classify_error("ho_tich", message, "mssql://sa:pw@h/db")
    assert type(error) is kind
    assert "ho_tich" in str(error) and ":pw@" not in str(error)


def test_sqlite_extract_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "welfare.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE doi_tuong (ma_doi_tuong TEXT, ngay_cap_nhat TEXT)")
        connection.executemany("INSERT INTO doi_tuong VALUES (?, ?)",
                               [(f"{i:06d}", f"2024-01-{i % 28 + 1:02d}") for i in range(100)])
    connector = open_connector("welfare", "sqlite", {"url": f"sqlite://{path}"})
    batches = list(connector.extract(ExtractRequest(
        source="welfare", table="doi_tuong", watermark_column="ngay_cap_nhat", since="2024-01-15", batch_rows=7,
    )))
    table = pa.Table.from_batches(batches)
    assert max(batch.num_rows for batch in batches) <= 7
    assert table.num_rows == sum(1 for i in range(100) if f"2024-01-{i % 28 + 1:02d}" >= "2024-01-15")
    assert table.column("ma_doi_tuong")[0].as_py().startswith("0")


# ---- against a real server (subclassed per server, with a `server` fixture) ---------------------

ROWS = 2_500


def citizens(rows: int = ROWS) -> pa.Table:
    """A ministry-like table: text IDs with leading zeros, Vietnamese names, a text watermark."""
    ids = [f"{(i * 7919) % 10**12:012d}" for i in range(rows)]
    return pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "so_dinh_danh": ids,
        "ho_ten": [f"Nguyễn Thị Hoà {i}" for i in range(rows)],
        "so_dien_thoai": [None if i % 5 == 0 else f"09{i:08d}" for i in range(rows)],
        "ngay_cap_nhat": [f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d} 08:00:00" for i in range(rows)],
    })


class SqlServerCases:
    """Every SQL server kind must pass these; subclasses provide `server` and `kind`."""

    kind = ""

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, server: DatabaseServer) -> pa.Table:
        table = citizens()
        server.load_table("cong_dan", table)
        return table

    def connect(self, server: DatabaseServer, url: str | None = None, **settings: object):  # type: ignore[no-untyped-def]
        return open_connector("bo_cong_an", self.kind, {"url": url or server.url, **settings})

    def test_extraction_equals_what_was_loaded(self, server: DatabaseServer, loaded: pa.Table) -> None:
        batches = list(self.connect(server).extract(
            ExtractRequest(source="bo_cong_an", table="cong_dan", batch_rows=300)))
        assert len(batches) >= ROWS // 300
        assert all(0 < batch.num_rows <= 300 for batch in batches)
        extracted = pa.Table.from_batches(batches).sort_by("id")
        assert extracted.column_names == loaded.column_names
        for name in loaded.column_names:
            assert extracted.column(name).to_pylist() == loaded.column(name).to_pylist(), name

    def test_watermark_window_and_columns(self, server: DatabaseServer, loaded: pa.Table) -> None:
        request = ExtractRequest(
            source="bo_cong_an", table="cong_dan", watermark_column="ngay_cap_nhat",
            since="2024-03-10", until="2024-06-01", columns=("so_dinh_danh", "ngay_cap_nhat"),
        )
        extracted = pa.Table.from_batches(list(self.connect(server).extract(request)))
        watermark = loaded.column("ngay_cap_nhat")
        inside = pc.and_(pc.greater_equal(watermark, "2024-03-10"), pc.less(watermark, "2024-06-01"))
        expected = loaded.filter(inside).select(["so_dinh_danh", "ngay_cap_nhat"])
        assert 0 < extracted.num_rows < ROWS
        assert extracted.column_names == ["so_dinh_danh", "ngay_cap_nhat"]
        assert sorted(extracted.column("so_dinh_danh").to_pylist()) == sorted(
            expected.column("so_dinh_danh").to_pylist())

    def test_query_source_and_partitioned_read(self, server: DatabaseServer, loaded: pa.Table) -> None:
        request = ExtractRequest(
            source="bo_cong_an", query="SELECT id, ho_ten, ngay_cap_nhat FROM cong_dan WHERE id % 2 = 0",
            watermark_column="ngay_cap_nhat", since="2024-07-01", partition_on="id", partitions=3,
            batch_rows=100,
        )
        batches = list(self.connect(server).extract(request))
        extracted = pa.Table.from_batches(batches)
        expected = [i for i, w in enumerate(loaded.column("ngay_cap_nhat").to_pylist())
                    if i % 2 == 0 and w >= "2024-07-01"]
        assert sorted(extracted.column("id").to_pylist()) == expected
        assert max(batch.num_rows for batch in batches) <= 100

    def test_check_passes_on_a_running_server(self, server: DatabaseServer) -> None:
        self.connect(server).check()

    def test_missing_table_is_a_schema_error(self, server: DatabaseServer) -> None:
        with pytest.raises(SourceSchemaError, match="bo_cong_an") as caught:
            list(self.connect(server).extract(ExtractRequest(source="bo_cong_an", table="khong_co")))
        assert "khong_co" in str(caught.value) and server.password not in str(caught.value)

    def test_missing_column_is_a_schema_error(self, server: DatabaseServer, loaded: pa.Table) -> None:
        request = ExtractRequest(source="bo_cong_an", table="cong_dan", watermark_column="cot_la", since="x")
        with pytest.raises(SourceSchemaError, match="cot_la"):
            list(self.connect(server).extract(request))

    def test_closed_port_is_unreachable_at_once(self, server: DatabaseServer) -> None:
        started = time.monotonic()
        with pytest.raises(SourceUnreachable, match="bo_cong_an") as caught:
            self.connect(server, server.url_for(server.password, port=free_port())).check()
        assert caught.value.retryable
        assert time.monotonic() - started < 5
        assert server.password not in str(caught.value) and "***" in str(caught.value)

    def test_query_timeout_cancels_a_slow_query(self, server: DatabaseServer, loaded: pa.Table) -> None:
        # A triple self-join of 2,500 rows: billions of row combinations, cut off after 0.3 s.
        slow = "SELECT COUNT(*) AS n FROM cong_dan a, cong_dan b, cong_dan c WHERE a.ho_ten < c.ho_ten"
        started = time.monotonic()
        with pytest.raises(SourceTimeout, match="time limit") as caught:
            list(self.connect(server, timeout_s=0.3).extract(ExtractRequest(source="bo_cong_an", query=slow)))
        assert caught.value.retryable and time.monotonic() - started < 10

    def test_a_server_that_sends_nothing_fails_as_a_timeout(self, server: DatabaseServer) -> None:
        # No statement timeout is set, so only the client-side stall limit can end this read.
        sleep = "SELECT 1 AS x FROM pg_sleep(20)" if self.kind == "postgres" else "SELECT SLEEP(20) AS x"
        started = time.monotonic()
        with pytest.raises(SourceTimeout, match="no data from the source for 1 s") as caught:
            list(self.connect(server, stall_timeout_s=1).extract(ExtractRequest(source="bo_cong_an", query=sleep)))
        assert caught.value.retryable and time.monotonic() - started < 10
        assert server.password not in str(caught.value)

    def test_wrong_password_is_an_auth_error(self, server: DatabaseServer) -> None:
        # connectorx's pool retries a refused login for about 30 s before giving up.
        wrong = "Sai-Mat-Khau-123"
        with pytest.raises(SourceAuthError, match="bo_cong_an") as caught:
            self.connect(server, server.url_for(wrong)).check()
        message = str(caught.value)
        assert not caught.value.retryable
        assert wrong not in message and server.password not in message and "***" in message

