"""Connections are typed per kind: a key the kind does not read (a typo, `encoding` on a database,
the unused `partitions`) is refused with one line naming the file, the source, the key and the
allowed keys; every other catalogue model refuses unknown keys the same way."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml

from catalogue import CatalogueError, load_catalogue
from catalogue.models import Connection, CsvFolderConnection, Encoding, SqlConnection
from connectors.encodings import ENCODINGS


def problem_after(root: Path, suites: Path, file: str, change) -> str:
    path = root / "sources" / file
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(root, suites)
    [problem] = raised.value.problems
    return problem


def test_each_kind_gets_its_own_model():
    assert isinstance(Connection(kind="sql", url="${X}").root, SqlConnection)
    drop = Connection(kind="csv_folder", path="/drops", encoding="tcvn3", settle_s=0)
    assert isinstance(drop.root, CsvFolderConnection)
    assert drop.settings == {"path": "/drops", "encoding": "tcvn3", "settle_s": 0.0}  # as written, no defaults


def test_encoding_on_a_database_is_refused_naming_source_key_and_allowed_keys(catalogue_copy):
    problem = problem_after(*catalogue_copy, "welfare.yml", lambda d: d["connection"].update(encoding="tcvn3"))
    assert "welfare.yml" in problem and "source 'welfare'" in problem
    assert "unknown key 'encoding' of a 'sql' connection" in problem
    assert "file drops only" in problem
    assert "allowed keys: kind, url, path, timeout_s, stall_timeout_s" in problem


def test_a_mistyped_key_suggests_the_right_one(catalogue_copy):
    problem = problem_after(
        *catalogue_copy, "civil_status.yml",
        lambda d: d["connection"].update(complete_markr=d["connection"].pop("complete_marker")),
    )
    assert "source 'civil_status': connection:" in problem  # the kind is in the message, not the path
    assert "unknown key 'complete_markr'" in problem and "did you mean 'complete_marker'?" in problem


def test_the_unused_partitions_key_is_refused(catalogue_copy):
    problem = problem_after(*catalogue_copy, "business.yml", lambda d: d["connection"].update(partitions=4))
    assert "unknown key 'partitions'" in problem and "remove it" in problem


def test_an_unknown_encoding_lists_the_known_ones(catalogue_copy):
    problem = problem_after(*catalogue_copy, "civil_status.yml", lambda d: d["connection"].update(encoding="latin9"))
    assert "connection.encoding" in problem and "'tcvn3'" in problem


def test_an_unknown_kind_names_the_kinds(catalogue_copy):
    problem = problem_after(*catalogue_copy, "welfare.yml", lambda d: d["connection"].update(kind="ftp"))
    assert "'ftp'" in problem and "'file_drop'" in problem and "'rest'" in problem


def test_unknown_keys_elsewhere_in_the_catalogue_are_refused_too(catalogue_copy):
    problem = problem_after(
        *catalogue_copy, "population.yml", lambda d: d["tables"][0].update(watermrk="ngay_cap_nhat")
    )
    assert "tables[0]" in problem and "did you mean 'watermark'?" in problem


def test_the_catalogue_and_the_file_reader_know_the_same_encodings():
    assert set(get_args(Encoding)) == set(ENCODINGS)


def test_a_declared_encoding_reaches_the_drop_reader(tmp_path):
    from catalogue import Source, resolve_settings
    from connectors import FileDropConnector, open_connector

    source = Source.model_validate({
        "name": "lao_cai", "ministry": "Ministry of Justice",
        "connection": {"kind": "file_drop", "path": str(tmp_path), "encoding": "tcvn3"},
        "tables": [{"name": "deaths", "table": "khai_tu", "entity": "death_registration", "deletes": "none",
                    "columns": [{"source": "so_dang_ky", "to": "registration_no", "pii": "none"}]}],
    })
    connector = open_connector(source.name, source.connection.kind, resolve_settings(source))
    assert isinstance(connector, FileDropConnector) and connector.encoding == "tcvn3"
