"""Connector kind `sql`: the dialect comes from the URL's scheme, an empty URL falls back to a SQLite
file, and no message or repr shows the password (pure dispatch; a SQLite file for the round trip)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from connectors import ExtractRequest, SourceError, SqlConnector, open_connector
from connectors.sql import sql_target, timeout_statements

SECRET = "Mk-9f%40x"  # percent-encoded '@' inside: both spellings must stay hidden


@pytest.mark.parametrize(
    ("url", "dialect", "connectorx_url"),
    [
        (
            f"postgresql://ndc:{SECRET}@127.0.0.1:5432/population",
            "postgres",
            f"postgresql://ndc:{SECRET}@127.0.0.1:5432/population",
        ),
        ("postgres://ndc:pw@db:5432/x", "postgres", "postgres://ndc:pw@db:5432/x"),
        ("mysql://ndc:pw@db:3306/x", "mysql", "mysql://ndc:pw@db:3306/x"),
        ("mariadb://ndc:pw@db:3306/x", "mariadb", "mysql://ndc:pw@db:3306/x"),
        ("MariaDB://ndc:pw@db/x", "mariadb", "mysql://ndc:pw@db/x"),
        ("sqlite:///srv/demo/welfare.sqlite", "sqlite", "sqlite:///srv/demo/welfare.sqlite"),
        ("mssql://sa:pw@db:1433/hotich?encrypt=true", "mssql", "mssql://sa:pw@db:1433/hotich?encrypt=true"),
        ("oracle://u:pw@db:1521/svc", "oracle", "oracle://u:pw@db:1521/svc"),
    ],
)
def test_dialect_and_connectorx_url_follow_the_scheme(url: str, dialect: str, connectorx_url: str) -> None:
    assert sql_target(url, "/ignored/when/a/url/is/given.sqlite") == (dialect, connectorx_url)


@pytest.mark.parametrize("url", [None, "", "  "])
def test_empty_url_falls_back_to_the_sqlite_path_made_absolute(
    url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dialect, connectorx_url = sql_target(url, ".ndc/demo/population.sqlite")
    assert dialect == "sqlite"
    assert connectorx_url == f"sqlite://{tmp_path.resolve()}/.ndc/demo/population.sqlite"
    assert connectorx_url.startswith("sqlite:///")


def test_neither_url_nor_path_is_a_source_error() -> None:
    for settings in ({}, {"url": ""}, {"url": "", "path": ""}):
        with pytest.raises(SourceError, match=r"source 'population'.*neither a `url` nor a SQLite `path`"):
            open_connector("population", "sql", settings)


@pytest.mark.parametrize(
    "url", [f"postgresq://ndc:{SECRET}@db/x", f"jdbc:postgresql://ndc:{SECRET}@db/x", f"ndc:{SECRET}@db/x"]
)
def test_unknown_scheme_is_named_without_the_password(url: str) -> None:
    with pytest.raises(SourceError, match="does not start with one of") as caught:
        open_connector("welfare", "sql", {"url": url, "path": "/x.sqlite"})
    message = str(caught.value)
    assert SECRET not in message and "Mk-9f@x" not in message
    assert "source 'welfare'" in message


def test_password_with_a_raw_at_sign_is_hidden_too() -> None:
    url = "postgresq://ndc:p@ss@db/x"  # an unencoded '@' in the password, and a typo in the scheme
    with pytest.raises(SourceError) as caught:
        open_connector("welfare", "sql", {"url": url})
    assert "p@ss" not in str(caught.value) and "ss@db" not in str(caught.value)


def test_mariadb_url_gets_mariadb_dialect_and_timeout_over_the_mysql_protocol() -> None:
    connector = open_connector(
        "business", "sql", {"url": f"mariadb://ndc:{SECRET}@127.0.0.1:3307/business", "timeout_s": 2}
    )
    assert isinstance(connector, SqlConnector)
    assert connector.dialect == "mariadb"
    assert connector.url.startswith("mysql://")
    assert connector.timeout_s == 2.0
    assert timeout_statements(connector.dialect, connector.timeout_s) == ["SET SESSION max_statement_time = 2.000"]


def test_repr_and_redacted_url_hide_the_password() -> None:
    connector = open_connector("population", "sql", {"url": f"postgresql://ndc:{SECRET}@127.0.0.1/p"})
    assert SECRET not in repr(connector) and "Mk-9f@x" not in repr(connector)
    assert connector.redacted_url == "postgresql://ndc:***@127.0.0.1/p"  # type: ignore[attr-defined]


def test_url_wins_over_path_and_kinds_of_before_still_open() -> None:
    by_url = open_connector("p", "sql", {"url": "postgres://u:pw@h/db", "path": "/x.sqlite"})
    assert by_url.dialect == "postgres"  # type: ignore[attr-defined]
    assert open_connector("p", "postgres", {"url": "postgresql://u:pw@h/db"}).dialect == "postgres"  # type: ignore[attr-defined]
    assert open_connector("b", "mariadb", {"url": "mysql://u:pw@h/db"}).dialect == "mariadb"  # type: ignore[attr-defined]
    sqlite_by_path = open_connector("w", "sqlite", {"path": "rel/w.sqlite"})
    assert sqlite_by_path.url == f"sqlite://{Path('rel/w.sqlite').resolve()}"  # type: ignore[attr-defined]


def test_embedded_default_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue's shape with no URL set: `url` resolved to "" and a relative `path`."""
    (tmp_path / "demo").mkdir()
    with sqlite3.connect(tmp_path / "demo" / "welfare.sqlite") as connection:
        connection.execute("CREATE TABLE chi_tra (ma_chi_tra TEXT, ngay_cap_nhat TEXT)")
        connection.executemany(
            "INSERT INTO chi_tra VALUES (?, ?)", [(f"{i:05d}", f"2026-0{i % 9 + 1}-01") for i in range(50)]
        )
    monkeypatch.chdir(tmp_path)
    connector = open_connector("welfare", "sql", {"url": "", "path": "demo/welfare.sqlite"})
    connector.check()
    request = ExtractRequest(
        source="welfare", table="chi_tra", watermark_column="ngay_cap_nhat", since="2026-05-01"
    )
    table = pa.Table.from_batches(list(connector.extract(request)))
    assert table.num_rows == sum(1 for i in range(50) if i % 9 + 1 >= 5)
    assert table.column("ma_chi_tra")[0].as_py().startswith("0")
