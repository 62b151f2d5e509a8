"""Gold reads silver lazily: only the columns it uses, tombstones filtered in the scan; the tables
it reads by role (register, people, deaths) come from flags on the catalogue's entities."""

import polars as pl
import pydantic
import pytest

from assets.gold import live_scan
from catalogue import load_catalogue
from catalogue.models import Entity
from pipeline.gold import LINKED_COLUMNS, REGISTER_COLUMNS, GoldSources
from pipeline.link import PERSON_ID
from pipeline.names import DELETED


def test_gold_sources_come_from_entity_flags_not_names():
    catalogue = load_catalogue()
    sources = GoldSources.of(catalogue)
    by_key = {ref.key: ref.entity for ref in catalogue.tables}
    assert by_key[sources.register].population_register
    assert sources.deaths and all(by_key[key].records_death for key in sources.deaths)
    assert {by_key[key].name for key in sources.deaths} == {"death_registration"}
    assert sources.register in sources.people and set(sources.deaths) <= set(sources.people)


def test_records_death_needs_a_person_to_mark():
    with pytest.raises(pydantic.ValidationError, match="records_death needs `person`"):
        Entity(
            name="deaths",
            description="d",
            primary_key=["no"],
            suite="s",
            columns=[{"name": "no", "pii": "none"}],
            records_death=True,
        )


def test_live_scan_pushes_the_projection_and_the_tombstone_filter_into_the_delta_scan(tmp_path):
    pl.DataFrame(
        {PERSON_ID: ["a", "b", None], "wide_text": ["x" * 50] * 3, DELETED: [False, True, None]}
    ).write_delta(str(tmp_path))
    scan = live_scan(pl.scan_delta(str(tmp_path)), [*LINKED_COLUMNS, "not_in_this_table"])
    plan = scan.explain()
    assert "PROJECT 2/3 COLUMNS" in plan and "SELECTION" in plan  # wide_text is never read
    rows = scan.collect()
    assert rows.columns == [PERSON_ID]
    assert rows[PERSON_ID].to_list() == ["a", None]  # the tombstone is gone, a null flag is live


def test_live_scan_of_silver_without_tombstones_reads_every_row(tmp_path):
    pl.DataFrame({column: ["v"] for column in REGISTER_COLUMNS} | {"extra": [1]}).write_delta(str(tmp_path))
    rows = live_scan(pl.scan_delta(str(tmp_path)), REGISTER_COLUMNS).collect()
    assert rows.columns == list(REGISTER_COLUMNS) and rows.height == 1
