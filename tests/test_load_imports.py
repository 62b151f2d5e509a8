"""A table load, and the asset's publishing of its Data Docs, never import Great Expectations (issue 9).

GE takes seconds to import and was imported by every load only to build a validation result and
render pages. Now the load stores its result as JSON and `ndc docs serve` renders it on read.
The load runs in a fresh interpreter (a test process has GE imported by other tests), on a small
file drop into a local warehouse; timings are bench/'s, not a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

RUN = """
import datetime as dt, json, sys
from pathlib import Path

import pytest

from pipeline.load import load_table
from quality.publish import publish_validation
from tests.fixtures.drops import deaths_csv, drop_ref, settled
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

base = Path(sys.argv[1])
folder = base / "drops" / "khai_tu"
folder.mkdir(parents=True)
(folder / "2026-08.csv").write_text(deaths_csv(0, 20, "2026-08") + "KT999999,31/02/2026,,X,10/08/2026,01\\n")
settled(folder)
patch = pytest.MonkeyPatch()
patch.setenv("NDC_STAGING_DIR", str(base / "staging"))
ref = drop_ref(base / "drops", patch)
warehouse = Warehouse(StorageSettings(warehouse_uri=str(base / "warehouse")))
report = load_table(ref, warehouse, run_id="run-1", today=dt.date(2026, 12, 1))
after_load = "great_expectations" in sys.modules
docs = publish_validation(report.validation, warehouse.settings, report.run_id, name=ref.key)
import assets.ministries  # noqa: F401,E402  the module that publishes, as a Dagster step imports it
print(json.dumps({
    "after_load": after_load,
    "after_publish": "great_expectations" in sys.modules,
    "quarantined": report.quarantined,
    "path": docs.path,
    "stored": str(base / "data_docs" / "validations" / "run-1" / f"{ref.key}.json"),
}))
"""


def test_a_load_and_its_data_docs_leave_great_expectations_unimported(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp_path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["after_load"] is False and seen["after_publish"] is False
    assert seen["quarantined"] == 1  # the rules really ran (31 February breaks one)
    stored = json.loads(Path(seen["stored"]).read_text(encoding="utf-8"))
    assert stored["suite_name"] == "death_registration" and stored["success"] is False
    broken = [r for r in stored["results"] if r["result"]["unexpected_count"]]
    assert broken and all(r["expectation_config"]["meta"]["rule_id"] for r in broken)
    assert seen["path"].startswith("run-1/civil_status.deaths/validations/death_registration/run-1/")
