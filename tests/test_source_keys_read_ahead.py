"""An incremental load reads the source's keys on a thread while it judges its rows (pipeline/deletes.py: SourceKeys),
with a reader prepared as the load begins.

Pure logic with a fake connector; tests/test_incremental_sync.py runs the same path end to end
against PostgreSQL (its inserts, updates and deletes matching the source after an incremental load).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from catalogue.loader import load_catalogue
from connectors import ExtractRequest, SourceError
from pipeline.deletes import SourceKeys

CITIZENS = next(ref for ref in load_catalogue().tables if ref.key == "population.citizens")
BIRTHS = next(ref for ref in load_catalogue().tables if ref.key == "civil_status.births")


@dataclass
class GatedConnector:
    """Its independent reader sends the keys only once the test opens the gate, and records the
    thread that read them and whether it was closed."""

    gate: threading.Event = field(default_factory=threading.Event)
    requests: list[ExtractRequest] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    closed: list[bool] = field(default_factory=list)
    fail: bool = False

    def independent_reader(self) -> GatedConnector:
        return self

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

    def close(self) -> None:
        self.closed.append(True)


class SharedReadsConnector(GatedConnector):
    independent_reader = None  # type: ignore[assignment]  # an API whose rate limit two reads would share


@dataclass
class Silver:
    present: bool

    def exists(self, name: object) -> bool:
        return self.present


def test_the_keys_are_read_on_a_thread_of_their_own_once_started_while_the_load_goes_on() -> None:
    connector = GatedConnector()
    with SourceKeys.prepared(CITIZENS, connector, Silver(present=True)) as keys:  # type: ignore[arg-type]
        assert keys is not None
        assert connector.requests == []  # prepared as the load begins: nothing read before the extraction ends
        keys.start()
        connector.gate.set()
        read = pa.Table.from_batches(keys.batches())
        assert read.column("so_dinh_danh").to_pylist() == ["001090000001", "001090000002", "001090000003"]
        assert connector.readers == ["source keys of population.citizens"]
        assert keys.batches() == []  # handed over: the load does not hold every key through its MERGE
    (request,) = connector.requests
    assert request.columns == ("so_dinh_danh",) and request.since is None  # every row, the key alone
    assert connector.closed == [True]


def test_keys_never_started_are_read_when_the_load_asks_for_them() -> None:
    # A load with nothing new goes straight to reconcile: the prepared reader reads then.
    connector = GatedConnector()
    connector.gate.set()
    with SourceKeys.prepared(CITIZENS, connector, Silver(present=True)) as keys:  # type: ignore[arg-type]
        assert keys is not None
        assert pa.Table.from_batches(keys.batches()).num_rows == 3
    assert connector.readers == ["source keys of population.citizens"]


def test_a_load_that_fails_before_reconcile_closes_the_prepared_reader() -> None:
    connector = GatedConnector()
    with pytest.raises(SourceError), SourceKeys.prepared(CITIZENS, connector, Silver(present=True)):  # type: ignore[arg-type]
        raise SourceError("population", "the extraction failed", "Check the database server.")
    assert connector.closed == [True] and connector.requests == []


def test_a_failed_key_read_is_raised_where_the_load_asks_for_the_keys() -> None:
    connector = GatedConnector(fail=True)
    connector.gate.set()
    with SourceKeys.prepared(CITIZENS, connector, Silver(present=True)) as keys:  # type: ignore[arg-type]
        assert keys is not None
        keys.start()
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
    with SourceKeys.prepared(ref, connector, silver) as keys:
        assert keys is None
    assert connector.requests == [] and connector.closed == []
