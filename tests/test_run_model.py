"""The run model's pure parts: which rows a load reads, whether it found anything new, the CLI's words."""

import datetime as dt

import dagster as dg
import pytest

from assets.ministries import LoadConfig, load_mode, load_news
from assets.nightly import day_window
from orchestration.cli_render import rules_cell
from orchestration.job_runner import rule_outcome
from pipeline.load_report import LoadReport

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def report(extracted: int, watermark_to: str | None) -> LoadReport:
    return LoadReport(
        run_id="r2", source="population", table="citizens", entity="citizen", extracted=extracted,
        landed=extracted, quarantined=0, deduplicated=0, warned=0, linked=0, ambiguous=0, deleted=0,
        files_quarantined=0, rule_counts={}, watermark_from=None, watermark_to=watermark_to,
        bronze_version=None, silver_version=None, quarantine_version=None, started_at=NOW, finished_at=NOW,
    )  # fmt: skip


def test_a_window_of_days_is_read_exactly_and_either_end_may_stay_open():
    assert day_window(dt.date(2026, 10, 1), dt.date(2026, 10, 15)) == {
        "since": "2026-10-01 00:00:00",
        "until": "2026-10-15 00:00:00",
    }
    assert day_window(None, dt.date(2026, 10, 15)) == {"until": "2026-10-15 00:00:00"}
    assert day_window(None, None) == {}


def test_the_load_mode_comes_from_the_run_config():
    assert load_mode(LoadConfig()) == "nightly"
    assert load_mode(LoadConfig(full_refresh=True)) == "full refresh"
    assert load_mode(LoadConfig(since="2026-10-01 00:00:00")) == "window"


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (LoadConfig(since="01/10/2026"), "since='01/10/2026'"),
        (LoadConfig(full_refresh=True, until="2026-10-01"), "full_refresh"),
    ],
)
def test_a_config_that_cannot_be_read_fails_once_saying_what_to_give(config, named):
    with pytest.raises(dg.Failure) as failure:
        load_mode(config)
    assert named in failure.value.description and not failure.value.allow_retries


def test_a_nightly_load_that_read_only_its_look_back_found_nothing_new():
    mark = "2026-10-31 23:00:00"
    quiet = load_news(report(120, "2026-10-31 23:00:00"), mode="nightly", mark=mark)
    assert not quiet.new_rows and quiet.summary.startswith(f"no new rows since watermark {mark}")
    empty = load_news(report(0, None), mode="nightly", mark=mark)
    assert not empty.new_rows and "nothing extracted" in empty.summary
    fresh = load_news(report(5, "2026-11-01 00:30:00"), mode="nightly", mark=mark)
    assert fresh.new_rows and "2026-11-01 00:30:00" in fresh.summary
    first = load_news(report(5, "2026-10-01 00:00:00"), mode="nightly", mark=None)
    assert first.new_rows  # the first load of a table judges everything


def test_a_deliberate_re_read_is_judged_afresh_unless_it_read_nothing():
    assert load_news(report(3, "2026-09-30 10:00:00"), mode="window", mark=None).new_rows
    assert "full refresh" in load_news(report(9, "x"), mode="full refresh", mark=None).summary
    empty = load_news(report(0, None), mode="window", mark=None)  # e.g. a window before the table's first row
    assert not empty.new_rows and "no new rows in the window" in empty.summary
    assert load_news(report(0, None), mode="full refresh", mark=None).new_rows  # the source is empty: judged so


def test_the_summary_reads_rules_as_clean_or_warned_not_a_failing_score():
    assert [rule_outcome(True, "WARN"), rule_outcome(False, "WARN"), rule_outcome(False, "ERROR")] == [
        "clean",
        "warned",
        "failed",
    ]
    load = {"rules_clean": 17, "rules_warned": 6, "rules_failed": 0, "rules_restated_from": []}
    assert rules_cell(load) == "17 clean · [yellow]6 warned[/] (rows quarantined or flagged)"
    quiet = {**load, "rules_restated_from": ["0123456789abcdef"]}
    assert rules_cell(quiet).endswith("as of run 01234567")


def test_a_window_reaches_the_sql_tables_and_file_drops_keep_their_own_cursor():
    from orchestration.runs import load_run_config

    window = day_window(dt.date(2026, 10, 1), None)
    ops = load_run_config(["population.citizens", "civil_status.births"], window=window)["ops"]
    assert ops == {
        "load_population__citizens": {"config": {"full_refresh": False, "since": "2026-10-01 00:00:00"}},
        "load_civil_status__births": {"config": {"full_refresh": False}},
    }
    every = load_run_config(full_refresh=True)["ops"]
    assert len(every) == 10 and all(op["config"] == {"full_refresh": True} for op in every.values())
