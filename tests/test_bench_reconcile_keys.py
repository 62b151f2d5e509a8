"""bench/bench_reconcile_keys.py: its source keys are ones reconcile's normalising has work on,
and it reports both steps. Its timings are measurements, not checked here."""

from __future__ import annotations

import sys

import polars as pl

from bench import bench_reconcile_keys
from catalogue import load_catalogue
from pipeline.mapping import canonical_expressions


def test_the_dirty_keys_are_real_work_that_normalising_undoes():
    source = bench_reconcile_keys.source_keys(5000, seed=3)
    written = source["so_dinh_danh"]
    ref = load_catalogue().table("population.citizens")
    normalised = source.select(canonical_expressions(ref.table, ref.entity)["personal_id"])["personal_id"]
    dirty = ~written.str.contains(r"^[0-9]{12}$")
    assert 300 < dirty.sum() < 700  # one in ten
    assert normalised.str.contains(r"^[0-9]{12}$").all()  # every one back to its 12 digits
    assert (normalised.filter(~dirty) == written.filter(~dirty)).all()


def test_it_reports_both_steps(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_reconcile_keys", "--keys", "2000", "--rounds", "2"])
    bench_reconcile_keys.main()
    medians = [line for line in capsys.readouterr().out.splitlines() if ": median " in line]
    assert [line.split(":")[0] for line in medians] == ["normalised (reconcile)", "raw keys only"]
    assert pl.Series([float(line.split("median ")[1].split(" s")[0]) for line in medians]).min() > 0
