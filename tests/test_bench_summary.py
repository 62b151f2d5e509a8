"""The harness's summary of rounds (bench/harness.py): medians, per-round ratios, and a change
measured against a baseline round by round. Pure logic on made-up rounds; speed itself is
measured by bench/, never by tests."""

from __future__ import annotations

from bench.harness import markdown, summarise


def _round(copy: float, ours: float, baseline: float, dlt: float) -> dict:
    def method(wall: float) -> dict:
        return {"wall_s": wall, "process_wall_s": wall + 1, "cpu_s": wall * 1.5, "rows": 1000, "peak_rss_mib": 100.0}

    return {"copy": method(copy), "ours": method(ours), "ours_baseline": method(baseline), "dlt_replace": method(dlt)}


ROUNDS = [_round(1.0, 8.0, 9.0, 6.0), _round(2.0, 9.0, 8.5, 6.0), _round(1.0, 7.0, 9.0, 7.0)]


def test_ratios_are_medians_of_each_rounds_own_ratio():
    summary = summarise(ROUNDS)
    assert summary["ours"]["wall_s"] == 8.0
    assert summary["ours"]["x_copy"] == 7.0  # per round 8.0, 4.5, 7.0; not median 8.0 / median 1.0
    assert summary["ours"]["x_dlt_replace_wall"] == 1.33  # 8/6, 9/6, 7/7


def test_a_change_is_reported_round_by_round_against_its_baseline():
    summary = summarise(ROUNDS)
    assert summary["ours"]["minus_baseline_wall_s"] == [-1.0, 0.5, -2.0]
    assert summary["ours"]["minus_baseline_cpu_s"] == [-1.5, 0.75, -3.0]
    table = markdown(summary, rows=1000, rounds=3)
    assert "wall -1.00, +0.50, -2.00 s (median -1.00; faster in 2 of 3)" in table
    assert "minus_baseline" not in str(summarise([{k: v for k, v in r.items() if k != "ours_baseline"} for r in ROUNDS]))
