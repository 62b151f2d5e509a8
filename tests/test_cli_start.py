"""The thin commands start without the heavy libraries they do not use (issue 9).

`ndc tables` and `ndc sql` are what analysts type all day: neither may load Dagster or Great
Expectations (seconds of start-up), `ndc tables` not even Polars, and `ndc sql` not pandas (that
PyArrow's constructors would import). Each command runs in a fresh interpreter on an empty
warehouse; timings are bench/bench_cli_start.py's, not a test's.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
NEVER = ("dagster", "great_expectations", "pandas")

RUN = """
import json, sys
from orchestration.cli import main
try:
    main({args!r}, standalone_mode=False)
finally:
    print(json.dumps(sorted(m for m in sys.modules if "." not in m)), file=sys.stderr)
"""


def loaded_after(arguments: list[str], tmp_path: Path) -> set[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NDC_WAREHOUSE_URI": str(tmp_path / "warehouse"),
        "NDC_AUDIT_URI": str(tmp_path / "audit"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "NDC_DEMO_DIR": str(tmp_path / "demo"),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN.format(args=arguments)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("arguments", "also_never"),
    [
        (["--version"], ("polars", "pyarrow", "deltalake", "duckdb", "pydantic")),
        (["tables", "--json"], ("polars", "pyarrow", "duckdb")),
        (["sql", "SELECT 1 AS n", "--format", "json"], ()),
    ],
    ids=["version", "tables", "sql"],
)
def test_thin_commands_leave_the_heavy_libraries_alone(arguments, also_never, tmp_path):
    loaded = loaded_after(arguments, tmp_path)
    assert "orchestration" in loaded  # the command really ran through the CLI module
    assert not loaded & {*NEVER, *also_never}, sorted(loaded & {*NEVER, *also_never})
