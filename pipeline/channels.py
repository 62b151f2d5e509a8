"""A table fed by several channels (e.g. the ministry's database and provincial CSV drops): each
channel is loaded in turn as a table of its own (`TableRef.channel_refs`: its connection, mapping,
cursor, bronze, quarantine and load record) into the one silver table, under one version order.

The table's own channel loads first, with the window it was asked for; the others read what they
have not read yet (a drop's file cursor, a database's high-water mark), since the window of one
channel's cursor means nothing to another's. A record that came by another channel already is a
copy when its version is silver's (pipeline/versions.py): counted as deduplicated, landed once.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from catalogue import TableRef
from pipeline.load_report import LoadReport

_SUMMED = ("extracted", "landed", "quarantined", "deduplicated", "warned", "linked", "ambiguous", "deleted",
           "files_quarantined", "files_waiting", "files_not_regular")


def load_channels(
    ref: TableRef, load: Callable[..., LoadReport], *, since: str | None, until: str | None
) -> LoadReport:
    """Load every channel of `ref` with `load(channel_ref, since=…, until=…)`; one report adding
    them up (each channel's own report is its load record)."""
    own, *others = ref.channel_refs()
    reports = [load(own, since=since, until=until), *(load(channel) for channel in others)]
    return combined(reports)


def combined(reports: list[LoadReport]) -> LoadReport:
    """The channels' reports as one: counts (files too) added, rule counts merged, every
    channel's workbook sheets left unread, the first channel's window and the last silver
    version (every channel merged into the same silver table)."""
    first, last = reports[0], reports[-1]
    rules: Counter[str] = Counter()
    for report in reports:
        rules.update(report.rule_counts)
    totals: dict[str, Any] = {name: sum(getattr(r, name) for r in reports) for name in _SUMMED}
    silver = [r.silver_version for r in reports if r.silver_version is not None]
    return dataclasses.replace(
        first, **totals, rule_counts=dict(rules), finished_at=last.finished_at,
        silver_version=silver[-1] if silver else None,
        sheets_left=[entry for report in reports for entry in report.sheets_left],
    )
