"""Two writers racing on one table (issue 11, defect 9): each run's load record must cite its own
Delta commit, not whatever version the table reached by the time it looked; and a stream that lost
its race is never written again drained."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pyarrow as pa
import pytest

from warehouse.storage import StorageSettings
from warehouse.tables import StreamSpent, TableName, Warehouse

NAME = TableName("bronze", "race", "rows")


def test_each_racing_writer_gets_the_version_of_its_own_commit(tmp_path):
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path)))
    warehouse.replace_run(NAME, pa.table({"n": [0], "_run_id": ["run-0"]}), "run-0")
    runs = [f"run-{i}" for i in range(1, 9)]

    def write(run_id: str) -> tuple[str, int]:
        return run_id, warehouse.replace_run(NAME, pa.table({"n": [1], "_run_id": [run_id]}), run_id)

    with ThreadPoolExecutor(max_workers=4) as pool:
        cited = dict(pool.map(write, runs))

    # Read from the log's own files: each commit names its run (`ndc.run_id` in commitInfo).
    log = tmp_path / "bronze" / "race" / "rows" / "_delta_log"
    commits = {
        int(path.stem): next(json.loads(line)["commitInfo"] for line in path.read_text().splitlines()
                             if '"commitInfo"' in line).get("ndc.run_id")
        for path in log.glob("*.json")
    }
    assert {run_id: commits[version] for run_id, version in cited.items()} == {r: r for r in runs}
    assert len(set(cited.values())) == len(runs)


def _append_in_another_process(uri: str, rows: pa.Table) -> None:
    """A writer of its own (delta-rs cannot be called from inside a stream it is reading)."""
    subprocess.run(
        [sys.executable, "-c", "import sys, pyarrow as pa; from deltalake import write_deltalake; "
         "write_deltalake(sys.argv[1], pa.ipc.open_stream(sys.stdin.buffer).read_all(), mode='append')", uri],
        input=_ipc_bytes(rows), check=True,
    )


def _ipc_bytes(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as stream:
        stream.write_table(rows)
    return sink.getvalue().to_pybytes()


def test_a_stream_that_lost_its_commit_race_is_not_written_again_drained(tmp_path):
    """An extraction is a stream read once. When its commit lost a race, a retry used to write the
    drained stream: the run's rows were replaced by none and the load went on counting 0 extracted."""
    warehouse = Warehouse(StorageSettings(warehouse_uri=str(tmp_path)))
    warehouse.replace_run(NAME, pa.table({"n": [0], "_run_id": ["earlier"]}), "earlier")
    schema = pa.schema([("n", pa.int64()), ("_run_id", pa.string())])

    def extraction():
        for n in (1, 2, 3):
            if n == 2:  # meanwhile, a stale attempt of the same run commits rows of that run
                _append_in_another_process(warehouse.uri(NAME), pa.table({"n": [99], "_run_id": ["run-a"]}))
            yield pa.record_batch({"n": [n], "_run_id": ["run-a"]}, schema=schema)

    with pytest.raises(StreamSpent, match=r"bronze\.race\.rows: another writer committed first"):
        warehouse.replace_run(NAME, pa.RecordBatchReader.from_batches(schema, extraction()), "run-a")
    rows = pl.from_arrow(warehouse.table(NAME).to_pyarrow_table())
    # The other writer's commit stands; nothing of the failed attempt was committed over it.
    assert sorted(rows["n"].to_list()) == [0, 99]
    # The step's retry reads the source anew and replaces the run's rows whole.
    again = pa.RecordBatchReader.from_batches(schema, iter([pa.record_batch({"n": [1, 2, 3], "_run_id": ["run-a"] * 3})]))
    warehouse.replace_run(NAME, again, "run-a")
    assert sorted(pl.from_arrow(warehouse.table(NAME).to_pyarrow_table())["n"].to_list()) == [0, 1, 2, 3]
