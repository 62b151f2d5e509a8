"""Gold is built only with a real pseudonym key, or the demo key in the demo's own warehouse (defect 5)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets.gold import gold_assets
from assets.resources import PseudonymKeyResource, WarehouseResource
from catalogue import load_catalogue
from orchestration.runs import step_failure_message
from pipeline.gold import DEMO_PSEUDONYM_KEY, MIN_KEY_BYTES, PseudonymKeyError, pseudonym_key
from warehouse.demo_marker import write_demo_marker

GOOD_KEY = "k" * MIN_KEY_BYTES


@pytest.fixture
def plain(tmp_path: Path) -> str:
    return str(tmp_path / "warehouse")


@pytest.fixture
def demo(tmp_path: Path) -> str:
    uri = str(tmp_path / "demo-warehouse")
    write_demo_marker(uri, {"citizens": 400, "seed": 3})
    return uri


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (None, "not set"),
        ("", "not set or empty"),
        ("   ", "not set or empty"),
        ("k" * (MIN_KEY_BYTES - 1), "too short"),
        ("test-key", "too short"),
        (DEMO_PSEUDONYM_KEY, "public demo key"),
    ],
)
def test_weak_keys_are_refused_outside_the_demo(plain, key, says):
    with pytest.raises(PseudonymKeyError) as refused:
        pseudonym_key(key, plain)
    message = str(refused.value)
    assert says in message and "NDC_PSEUDONYM_KEY" in message and "secrets.token_urlsafe" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("key", [None, "", DEMO_PSEUDONYM_KEY])
def test_s3_warehouse_never_gets_the_demo_key(key):
    with pytest.raises(PseudonymKeyError):
        pseudonym_key(key, "s3://ndc-raw/warehouse")


def test_the_demos_own_warehouse_may_use_the_demo_key(demo):
    assert pseudonym_key(None, demo) == DEMO_PSEUDONYM_KEY.encode()
    assert pseudonym_key("", demo) == DEMO_PSEUDONYM_KEY.encode()
    assert pseudonym_key(DEMO_PSEUDONYM_KEY, demo) == DEMO_PSEUDONYM_KEY.encode()
    with pytest.raises(PseudonymKeyError):  # a real but short key is still short there
        pseudonym_key("short", demo)


def test_a_long_key_is_used_as_given_anywhere(plain):
    assert pseudonym_key(GOOD_KEY, plain) == GOOD_KEY.encode()
    assert pseudonym_key(GOOD_KEY, "s3://ndc-raw/warehouse") == GOOD_KEY.encode()


@pytest.mark.parametrize("key", ["", "test-key", DEMO_PSEUDONYM_KEY])
def test_the_gold_asset_refuses_before_writing_anything(plain, key):
    citizen_360 = gold_assets(load_catalogue())[0]
    result = dg.materialize(
        [citizen_360],
        resources={
            "warehouse": WarehouseResource(warehouse_uri=plain),
            "pseudonym_key": PseudonymKeyResource(key=key),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error
    assert "NDC_PSEUDONYM_KEY" in ((error.cause or error).message or error.message)
    # `ndc sync` prints the key's own sentence, not a traceback hint (orchestration/runs.py).
    line = step_failure_message(failure.event_specific_data)
    assert line.startswith("NDC_PSEUDONYM_KEY") and "not a known mistake" not in line, line
    assert not (Path(plain) / "gold").exists()


def test_local_resources_leave_an_unset_key_to_the_policy(monkeypatch):
    from orchestration.resources import resources_for

    monkeypatch.delenv("NDC_PSEUDONYM_KEY", raising=False)
    assert resources_for("local")["pseudonym_key"].key == ""
    import os

    assert "NDC_PSEUDONYM_KEY" not in os.environ  # no demo key slipped into the environment


def test_gold_publishes_birth_year_bands_not_years():
    import datetime as dt

    import polars as pl

    from pipeline.gold import citizen_360
    from pipeline.link import PERSON_ID

    citizens = pl.DataFrame(
        {
            PERSON_ID: ["001084000001", "001087000002", "001090000003"],
            "date_of_birth": [dt.date(1984, 12, 31), dt.date(1987, 1, 1), dt.date(1990, 6, 1)],
            "sex": ["male", "female", "male"],
            "birth_province_2025": ["01", "01", "79"],
            "vital_status": ["alive", "alive", "alive"],
        }
    )
    people = citizen_360(citizens, {}, None, GOOD_KEY.encode())
    assert "birth_year" not in people.columns
    assert people["birth_year_band"].to_list() == [1980, 1985, 1990]


def test_a_sync_that_builds_gold_refuses_a_missing_key_before_loading_any_table(plain):
    """The gold step used to refuse only after every table had loaded (minutes, at scale)."""
    from click.testing import CliRunner

    from orchestration.cli import main

    env = {"NDC_WAREHOUSE_URI": plain, "NDC_PSEUDONYM_KEY": ""}
    refused = CliRunner(env=env).invoke(main, ["sync"])
    assert refused.exit_code == 1 and "NDC_PSEUDONYM_KEY is not set" in refused.output
    assert "no table was touched" in refused.output and not Path(plain).exists()


def test_the_demo_refuses_a_weak_key_of_ones_own_before_replacing_its_warehouse(demo, tmp_path):
    from click.testing import CliRunner

    from orchestration.cli import main

    env = {"NDC_WAREHOUSE_URI": demo, "NDC_DEMO_DIR": str(tmp_path / "sources"), "NDC_PSEUDONYM_KEY": "short"}
    (Path(demo) / "silver").mkdir()
    (Path(demo) / "silver" / "loaded.parquet").write_text("a table of the last demo")
    before = sorted(str(p) for p in Path(demo).rglob("*"))
    refused = CliRunner(env=env).invoke(main, ["demo", "--citizens", "500"])  # another size: would start afresh
    assert refused.exit_code == 1 and "too short" in refused.output
    assert sorted(str(p) for p in Path(demo).rglob("*")) == before and not (tmp_path / "sources").exists()
