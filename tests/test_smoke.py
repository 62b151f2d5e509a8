"""The project imports and its packages stay free of Dagster outside assets/ and orchestration/."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAIN_PACKAGES = ["catalogue", "connectors", "normalise", "quality", "warehouse", "demo", "pipeline"]


def test_plain_packages_do_not_import_dagster():
    offenders = []
    for package in PLAIN_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(name.split(".")[0] == "dagster" for name in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
