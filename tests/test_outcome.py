"""A load's Outcome adds its slices up: where each row went, and how often each rule was broken
(pipeline/judge.py: Outcome.add), counted as the rows' own rule lists say."""

from __future__ import annotations

from collections import Counter

import polars as pl

from pipeline.duplicates import DUPLICATE, EXACT
from pipeline.judge import Outcome
from pipeline.link import LINK_METHOD
from pipeline.names import DELETED, ERRORS, WARNINGS

ROWS = [
    # errors, warnings, duplicate verdict, deleted
    (["personal_id.well_formed", "sex.in_set"], ["cmnd.well_formed"], None, False),
    ([], ["cmnd.well_formed", "date_of_birth.after_1900"], None, False),
    ([], [], EXACT, False),
    (["superseded"], [], "superseded", False),
    ([], [], None, True),
    (["sex.in_set"], [], None, False),
    ([], [], None, False),
]


def _slice(rows) -> pl.DataFrame:
    errors, warnings, duplicate, deleted = zip(*rows, strict=True)
    return pl.DataFrame(
        {ERRORS: list(errors), WARNINGS: list(warnings), DUPLICATE: list(duplicate), DELETED: list(deleted),
         LINK_METHOD: [None] * len(rows)},
        schema={ERRORS: pl.List(pl.String), WARNINGS: pl.List(pl.String), DUPLICATE: pl.String,
                DELETED: pl.Boolean, LINK_METHOD: pl.String},
    )


def test_slices_add_up_to_where_every_row_went_and_each_rule_broken():
    outcome = Outcome()
    outcome.add(_slice(ROWS[:4]))
    outcome.add(_slice(ROWS[4:]))
    assert (outcome.landed, outcome.quarantined, outcome.deduplicated) == (3, 3, 1)
    assert outcome.landed + outcome.quarantined + outcome.deduplicated == len(ROWS)
    assert (outcome.warned, outcome.deleted) == (1, 1)
    assert outcome.rule_counts == Counter(rule for errors, warnings, *_ in ROWS for rule in [*errors, *warnings])
