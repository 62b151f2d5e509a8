"""An incremental load reads the source's keys on a thread while it judges its rows (pipeline/deletes.py: SourceKeys).

Pure logic with a fake connector; tests/test_incremental_sync.py runs the same path end to end
against PostgreSQL (its inserts, updates and deletes matching the source after an incremental load).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa
import pytest

from catalogue.loader import load_catalogue
from connectors import ExtractRequest, SourceError
from pipeline.deletes import SourceKeys

CITIZENS = next(ref for ref in load_catalogue().tables if ref.key == "population.citizens")
BIRTHS = next(ref for ref in load_catalogue().tables if ref.key == "civil_status.births")


@dataclass
class GatedConnector:
    """Sends its keys only once the test opens the gate; records the thread that read them."""

    independent_reads: ClassVar[bool] = True
    gate: threading.Event = field(default_factory=threading.Event)
    requests: list[ExtractRequest] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    fail: bool = False

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        self.requests.append(request)
        self.readers.append(threading.current_thread().name)
        assert self.gate.wait(timeout=10)
        yield pa.record_batch({"so_dinh_danh": ["001090000001", "001090000002"]})
        if self.fail:
            raise SourceError("population", "the connection was reset", "Check the database server.")
        yield pa.record_batch({"so_dinh_danh": ["001090000003"]})

    def check(self) -> None:
        pass


class SharedReadsConnector(GatedConnector):
    independent_reads: ClassVar[bool] = False  # an API whose rate limit two reads would share


@dataclass
class Silver:
    present: bool

    def exists(self, name: object) -> bool:
        return self.present


def test_the_keys_are_read_on_a_thread_of_their_own_while_the_load_goes_on() -> None:
    connector = GatedConnector()
    keys = SourceKeys.read_ahead(CITIZENS, connector, Silver(present=True))  # type: ignore[arg-type]
    assert keys is not None  # returned while the read still waits at the gate: not in the load's thread
    connector.gate.set()
    read = pa.Table.from_batches(keys.batches())
    assert read.column("so_dinh_danh").to_pylist() == ["001090000001", "001090000002", "001090000003"]
    assert connector.readers == ["source keys of population.citizens"]
    assert keys.batches() == []  # handed over: the load does not hold every key through its MERGE
    (request,) = connector.requests
    assert request.columns == ("so_dinh_danh",) and request.since is None  # every row, the key alone


def test_a_failed_key_read_is_raised_where_the_load_asks_for_the_keys() -> None:
    connector = GatedConnector(fail=True)
    connector.gate.set()
    keys = SourceKeys.read_ahead(CITIZENS, connector, Silver(present=True))  # type: ignore[arg-type]
    assert keys is not None
    with pytest.raises(SourceError, match="the connection was reset"):
        keys.batches()


@pytest.mark.parametrize(
    ("ref", "connector", "silver"),
    [
        (CITIZENS, GatedConnector(), Silver(present=False)),  # a first load: nothing to reconcile
        (BIRTHS, GatedConnector(), Silver(present=True)),  # deletes: none
        (CITIZENS, SharedReadsConnector(), Silver(present=True)),  # reads that share a limit
    ],
    ids=["no-silver-yet", "no-reconcile", "shared-reads"],
)
def test_no_read_ahead_where_it_is_not_needed_or_not_free(ref, connector, silver) -> None:
    connector.gate.set()
    assert SourceKeys.read_ahead(ref, connector, silver) is None
    assert connector.requests == []
