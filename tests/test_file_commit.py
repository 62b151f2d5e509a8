"""A first load commits its staged Parquet files as they are (warehouse/file_commit.py): the table
must be the one delta-rs would have written from the same rows, to every reader and writer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from warehouse.file_commit import TABLE_PARQUET, TableExists, create_table_from_files
from warehouse.objects import ObjectStore
from warehouse.storage import load_duckdb_extension

ROWS = 1_000
CHANGE_FEED = {"delta.enableChangeDataFeed": "true"}


def rows() -> pl.DataFrame:
    """Every column type silver holds, with nulls, long strings and sub-millisecond timestamps."""
    return pl.DataFrame({
        "id": [f"{i:012d}" for i in range(ROWS)],
        "long": ["x" * 100 + str(i) for i in range(ROWS)],
        "born": [dt.date(1950, 1, 1) + dt.timedelta(days=i) for i in range(ROWS)],
        "updated_at": [dt.datetime(2024, 1, 1, 0, 0, 0, 123456) + dt.timedelta(seconds=i) for i in range(ROWS)],
        "loaded_at": [dt.datetime(2024, 1, 1, 0, 0, 0, 987654, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in range(ROWS)],
        "valid": [i % 2 == 0 for i in range(ROWS)],
        "row": list(range(ROWS)),
        "amount": [i / 3 for i in range(ROWS)],
        "warnings": [["a", "b"] if i % 3 else None for i in range(ROWS)],
        "phone": [None if i % 7 == 0 else f"+8490{i:07d}" for i in range(ROWS)],
        "empty": pl.Series([None] * ROWS, dtype=pl.String),
    }).with_columns(pl.col("loaded_at").dt.convert_time_zone("UTC"))


def staged(folder: Path, frame: pl.DataFrame, slices: int = 3) -> list[Path]:
    folder.mkdir()
    size = -(-frame.height // slices)
    files = [folder / f"silver-{n:05d}.parquet" for n in range(slices)]
    for n, file in enumerate(files):
        frame.slice(n * size, size).write_parquet(file, **TABLE_PARQUET)
    return files


def create(uri: Path, files: list[Path]) -> None:
    create_table_from_files(
        str(uri), files, ObjectStore(), storage_options=None, configuration=CHANGE_FEED,
        description="citizens", commit_properties=CommitProperties(custom_metadata={"ndc.run_id": "r1"}),
    )


def file_statistics(table: DeltaTable) -> list[dict]:
    """Each file's statistics as delta-rs parses them back, without what differs by encoding."""
    adds = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    skip = {"path", "size_bytes", "modification_time"}
    return sorted(({k: v for k, v in add.items() if k not in skip} for add in adds), key=lambda a: a["min.id"])


@pytest.fixture
def tables(tmp_path: Path) -> tuple[DeltaTable, DeltaTable]:
    """The same rows: committed from staged files, and written by delta-rs slice by slice."""
    frame = rows()
    files = staged(tmp_path / "staging", frame)
    create(tmp_path / "ours", files)
    for file in files:
        write_deltalake(str(tmp_path / "delta_rs"), pl.read_parquet(file).to_arrow(), mode="append",
                        configuration=CHANGE_FEED)
    return DeltaTable(str(tmp_path / "ours")), DeltaTable(str(tmp_path / "delta_rs"))


def test_the_table_is_the_one_delta_rs_writes_statistics_included(tables):
    ours, delta_rs = tables
    assert ours.schema().to_arrow() == delta_rs.schema().to_arrow()
    protocols = [table.protocol() for table in (ours, delta_rs)]
    assert len({(p.min_reader_version, p.min_writer_version) for p in protocols}) == 1
    assert len({frozenset(p.reader_features or ()) | frozenset(p.writer_features or ()) for p in protocols}) == 1
    assert ours.metadata().configuration == CHANGE_FEED
    assert ours.history(1)[0]["ndc.run_id"] == "r1"
    assert file_statistics(ours) == file_statistics(delta_rs)
    assert file_statistics(ours)[0]["null_count.phone"] > 0  # the statistics are really there
    ours_rows = pl.read_delta(ours.table_uri).sort("id")
    assert ours_rows.equals(pl.read_delta(delta_rs.table_uri).sort("id"))
    assert ours_rows.equals(rows().sort("id"))


def test_readers_skip_by_the_statistics_and_writers_merge_into_it(tables):
    ours, _ = tables
    con = duckdb.connect()
    load_duckdb_extension(con, "delta")
    count, longest = con.sql(
        f"SELECT count(*), max(long) FROM delta_scan('{ours.table_uri}') WHERE id >= '000000000990'"
    ).fetchone()
    assert (count, longest) == (10, "x" * 100 + "999")
    dataset, newest = ours.to_pyarrow_dataset(), pa.compute.field("id") >= "000000000990"
    assert dataset.filter(newest).count_rows() == 10
    assert len(list(dataset.get_fragments())) == 3 and len(list(dataset.get_fragments(filter=newest))) == 1
    changed = rows().slice(990, 20).with_columns(pl.lit("changed").alias("long"))
    (
        ours.merge(changed.to_arrow(), predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    after = pl.read_delta(ours.table_uri)
    assert after.height == ROWS and after.filter(pl.col("long") == "changed").height == 10
    assert DeltaTable(ours.table_uri).load_cdf(0).read_all().num_rows == ROWS + 2 * 10  # inserts, then pre/post


def test_a_table_created_meanwhile_is_left_as_it_was(tmp_path):
    files = staged(tmp_path / "staging", rows())
    create(tmp_path / "ours", files)
    before = sorted(p.name for p in (tmp_path / "ours").iterdir())
    with pytest.raises(TableExists):
        create(tmp_path / "ours", files)
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == before  # no copied file left
    assert DeltaTable(str(tmp_path / "ours")).version() == 0


@pytest.mark.parametrize("after_commit", [KeyboardInterrupt, RuntimeError])
def test_a_stop_or_an_error_just_after_the_commit_leaves_the_table_whole(tmp_path, monkeypatch, after_commit):
    """ctrl-C / Terminate is raised at the first Python line after delta-rs returns: when that is
    just after the commit went through, the files it names must stay (found by the ctrl-C fault
    test: the next run read a silver table whose only file had been removed)."""
    import warehouse.file_commit as file_commit

    commit = file_commit.create_table_with_add_actions

    def commit_then_stop(*args, **kwargs):
        commit(*args, **kwargs)
        raise after_commit("stopped as the commit returned")

    monkeypatch.setattr(file_commit, "create_table_with_add_actions", commit_then_stop)
    frame = rows()
    with pytest.raises(after_commit, match="stopped as the commit returned"):
        create(tmp_path / "ours", staged(tmp_path / "staging", frame))
    assert pl.read_delta(str(tmp_path / "ours")).sort("row").equals(frame)


def test_when_the_store_cannot_say_who_committed_the_files_are_kept(tmp_path, monkeypatch):
    """The commit went through, then the store failed while we asked whether it had: removing the
    copied files on a guess would leave the table pointing at nothing."""
    import warehouse.file_commit as file_commit

    commit = file_commit.create_table_with_add_actions

    def commit_then_lose_the_store(*args, **kwargs):
        commit(*args, **kwargs)
        monkeypatch.setattr(DeltaTable, "is_deltatable", unreachable)
        raise OSError("connection reset as the commit returned")

    def unreachable(*args, **kwargs):
        raise OSError("store unreachable")

    monkeypatch.setattr(file_commit, "create_table_with_add_actions", commit_then_lose_the_store)
    frame = rows()
    with pytest.raises(OSError, match="connection reset"):
        create(tmp_path / "ours", staged(tmp_path / "staging", frame))
    monkeypatch.undo()  # the store is back: the table must read whole
    assert pl.read_delta(str(tmp_path / "ours")).sort("row").equals(frame)


def test_a_load_that_lands_nothing_creates_the_table_empty_with_its_schema(tmp_path):
    files = staged(tmp_path / "staging", rows().head(0), slices=2)
    create(tmp_path / "ours", files)
    table = DeltaTable(str(tmp_path / "ours"))
    assert table.version() == 0 and pl.read_delta(table.table_uri).height == 0
    assert [f.name for f in table.schema().to_arrow()] == rows().columns
    assert not list((tmp_path / "ours").glob("*.parquet"))  # no empty file added
