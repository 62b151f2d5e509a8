"""gold.kpi.data_standard on a hand-made pair of ministries (tests/fixtures/standard.py): every
figure below is counted by hand from the fixture's list of defects."""

from __future__ import annotations

import polars as pl
import pytest

from catalogue import load_catalogue
from pipeline.standard import DATA_STANDARD, measure, measurement_day
from tests.fixtures.standard import MEASURED_AT, Ministries, ministries
from warehouse.committed import LOADS
from warehouse.days import replace_day

__all__ = ["ministries"]

pytestmark = pytest.mark.slow  # two real loads through the pipeline (about a minute on a busy 2-core machine)


def row(frame: pl.DataFrame, table: str, province: str) -> dict:
    rows = frame.filter((pl.col("table") == table) & (pl.col("province_2025") == province)).to_dicts()
    assert len(rows) == 1, f"{table} × {province}: {len(rows)} rows"
    return rows[0]


def test_the_four_criteria_match_the_hand_computed_figures(ministries: Ministries) -> None:
    ministries.load()
    frame = measure(load_catalogue(), ministries.warehouse, MEASURED_AT)

    insured = row(frame, "insured_persons", "all")
    # correct: 3 linked (An, Bình, Cúc); Bình's date of birth disagrees with the register: 2 of 3
    assert (insured["records_linked"], insured["records_correct"]) == (3, 2)
    assert insured["pct_correct"] == pytest.approx(66.67)
    assert insured["pct_correct_name"] == 100.0 and insured["pct_correct_sex"] == 100.0
    assert insured["pct_correct_date_of_birth"] == pytest.approx(66.67)
    assert insured["pct_correct_birth_province"] is None  # insured persons carry no birth province
    # complete: 4 live records × 7 important columns, Cúc's phone missing: 27 of 28
    assert (insured["records"], insured["important_columns"]) == (4, 7)
    assert insured["pct_complete"] == pytest.approx(100 * 27 / 28, abs=0.01)
    # clean: 5 rows judged, the nameless one broke an error rule: 4 of 5
    assert (insured["rows_judged"], insured["rows_clean"], insured["pct_clean"]) == (5, 4, 80.0)
    # live: Em's record was last updated in 2024, beyond the declared 365 days: 3 of 4
    assert (insured["records_live"], insured["pct_live"], insured["freshness_days"]) == (3, 75.0, 365.0)
    load = ministries.warehouse.read(LOADS).filter(pl.col("table") == "insured_persons").row(0, named=True)
    newest = pl.Series(["2026-11-20 10:00:00"]).str.to_datetime().dt.replace_time_zone("Asia/Ho_Chi_Minh")
    expected_lag = (load["finished_at"] - newest.dt.convert_time_zone("UTC")[0]).total_seconds() / 3600
    assert insured["lag_hours"] == pytest.approx(expected_lag, abs=0.01)

    # per province: An and Bình were born in 01 (and the nameless row holds Bình's ID), Cúc in 79
    hanoi = row(frame, "insured_persons", "01")
    assert (hanoi["records"], hanoi["records_correct"], hanoi["pct_correct"]) == (2, 1, 50.0)
    assert (hanoi["rows_judged"], hanoi["rows_clean"]) == (3, 2)
    saigon = row(frame, "insured_persons", "79")
    assert (saigon["pct_correct"], saigon["pct_complete"]) == (100.0, pytest.approx(100 * 6 / 7, abs=0.01))
    unlinked = row(frame, "insured_persons", "unlinked")
    assert (unlinked["records"], unlinked["records_linked"], unlinked["pct_correct"]) == (1, 0, None)
    assert unlinked["pct_live"] == 0.0

    # the register is the reference: it has no "correct" of its own; its bad ID is quarantined
    register = row(frame, "citizens", "all")
    assert (register["records"], register["pct_correct"], register["rows_judged"], register["rows_clean"]) == (3, None, 4, 3)

    # aggregates only: no column of the gold table holds a personal value
    assert not {"personal_id", "full_name", "_person_id", "date_of_birth"} & set(frame.columns)

    # written per day: measuring again the same day replaces that day's rows, never adds to them
    day = measurement_day(MEASURED_AT)
    for _ in range(2):
        replace_day(ministries.warehouse, DATA_STANDARD, frame.to_arrow(), day)
    assert ministries.warehouse.read(DATA_STANDARD).height == frame.height
