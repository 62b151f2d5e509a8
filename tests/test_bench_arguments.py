"""The harness refuses a run it cannot finish before it makes its table (bench/harness.py): a
misspelt method, a dlt method without the `bench` dependency group, a baseline that is no checkout.
Before, `uv run python -m bench` generated a 1M-row table, ran rounds, then died in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import harness
from bench.harness import arguments_problem

ROOT = Path(__file__).resolve().parents[1]


def test_the_usual_choices_can_start():
    assert arguments_problem(("copy", "ours", "night", "query"), profile=False, baseline=None) is None
    assert arguments_problem(("copy", "ours"), profile=False, baseline=ROOT) is None


def test_a_misspelt_method_is_named_with_the_choices():
    problem = arguments_problem(("copy", "dlt"), profile=False, baseline=None)
    assert problem is not None and problem.startswith("unknown method(s) dlt:") and "dlt_replace" in problem


def test_a_method_whose_module_is_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(harness.GROUP_MODULES, "dlt_replace", "ndc_no_such_module")
    problem = arguments_problem(("copy", "dlt_replace"), profile=False, baseline=None)
    assert problem is not None and problem.startswith("ndc_no_such_module not installed")
    assert "uv run --group bench python -m bench" in problem and problem.endswith("(--methods copy)")
    alone = arguments_problem(("dlt_replace",), profile=False, baseline=None)
    assert alone is not None and "leave out" not in alone  # nothing would be left to run


def test_a_baseline_that_is_no_checkout_is_refused(tmp_path):
    problem = arguments_problem(("ours",), profile=False, baseline=tmp_path)
    assert problem is not None and str(tmp_path) in problem and "git worktree add" in problem


def test_a_refused_run_starts_no_server_and_makes_no_table(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        harness.main(["--methods", "copy,ours,dlt", "--work", str(tmp_path / "work")])
    assert exited.value.code == 2
    assert "unknown method(s) dlt" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_a_profile_needs_its_profiler_and_not_the_methods_modules(monkeypatch):
    monkeypatch.setitem(harness.GROUP_MODULES, "dlt_replace", "ndc_no_such_module")
    assert "ndc_no_such_module" not in str(arguments_problem(harness.METHODS, profile=True, baseline=None))
    monkeypatch.setattr(harness.importlib.util, "find_spec", lambda name: None)  # a checkout synced without the group
    assert arguments_problem(harness.METHODS, profile=True, baseline=None).startswith("pyinstrument not installed")
