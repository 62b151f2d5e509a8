"""A step of a multi-step run is a process forked from a server that imported
orchestration.definitions.STEP_PRELOAD: what a load imports after the fork it pays in every step.
A SQL source's login driver was such an import (psycopg 0.16 s, pymysql 0.07 s a step)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}

CHECK_AFTER_PRELOAD = textwrap.dedent(
    """
    import json, sys
    from orchestration.definitions import STEP_PRELOAD

    for name in STEP_PRELOAD:
        __import__(name)
    from connectors import open_connector

    before = set(sys.modules)
    open_connector("population", "sql", {"url": sys.argv[1]}).check()  # logs in with the driver
    print(json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - before})))
    """
)


@pytest.mark.parametrize("backend", ["postgres", "mariadb"])
def test_a_sql_sources_login_imports_no_library_the_step_server_did_not_preload(backend, request):
    server = request.getfixturevalue(f"{backend}_server")  # MariaDB's is skipped where it is not installed
    done = subprocess.run(
        [sys.executable, "-c", CHECK_AFTER_PRELOAD, server.url],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    libraries = imported - set(sys.stdlib_module_names) - FIRST_PARTY
    assert not libraries, f"imported in every SQL step, not preloaded: {sorted(libraries)}"
