"""Two writers racing on one table (issue 11, defect 9): each run's load record must cite its own
Delta commit, not whatever version the table reached by the time it looked."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from warehouse.storage import StorageSettings
from warehouse.tables import TableName, Warehouse

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
