"""The SQL read's child process (connectors/isolated.py): how its end reads in the parent, and a
child started ahead of its read (ReadingProcess).

The child is a stand-in script where what is tested is the parent telling a ctrl-C from a failure
(its own read is tried against real servers in tests/test_connectors_postgres.py); a prepared
child reads a real SQLite file.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from connectors import isolated
from connectors.isolated import ReadingProcess, SqlRead, read_batches

READ = SqlRead(url="postgresql://nobody@127.0.0.1:1/none", query="SELECT 1", batch_rows=10)


def stand_in(tmp_path: Path, body: str) -> str:
    script = tmp_path / "child.py"
    script.write_text("import os, signal, sys\n" + body + "\n")
    return str(script)


def test_a_child_killed_by_ctrl_c_before_it_could_ignore_it_stops_the_load(tmp_path, monkeypatch):
    # A terminal's ctrl-C reaches the whole process group; one landing while the child still
    # imports kills it. That is the user's stop, not a source failure the load would retry.
    monkeypatch.setattr(isolated, "__file__", stand_in(tmp_path, "os.kill(os.getpid(), signal.SIGINT)"))
    with pytest.raises(KeyboardInterrupt):
        list(read_batches(READ, stall_timeout_s=30))


def test_a_child_that_dies_otherwise_without_a_word_is_a_failure_of_the_read(tmp_path, monkeypatch):
    monkeypatch.setattr(isolated, "__file__", stand_in(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)"))
    with pytest.raises(RuntimeError, match=r"cut off|without a word"):
        list(read_batches(READ, stall_timeout_s=30))


def sqlite_read(tmp_path: Path) -> SqlRead:
    database = tmp_path / "source.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE citizens (personal_id TEXT)")
        connection.executemany("INSERT INTO citizens VALUES (?)", [("001",), ("002",), ("003",)])
    return SqlRead(url=f"sqlite://{database}", query="SELECT personal_id FROM citizens", batch_rows=10)


def test_a_child_started_ahead_reads_once_when_given_its_read(tmp_path):
    read = sqlite_read(tmp_path)
    process = ReadingProcess()
    rows = [value for batch in read_batches(read, 30, process) for value in batch.column(0).to_pylist()]
    assert rows == ["001", "002", "003"]
    assert not process.alive
    with pytest.raises(RuntimeError, match="used or closed already"):
        list(process.read(read, 30))


def test_closing_a_child_whose_read_never_came_ends_it():
    process = ReadingProcess()
    assert process.alive  # waiting for its settings, connected to nothing
    process.close()
    assert not process.alive
    with pytest.raises(RuntimeError, match="used or closed already"):
        list(process.read(READ, 30))


def test_a_child_started_ahead_that_died_of_ctrl_c_before_its_read_stops_the_load(tmp_path, monkeypatch):
    # Started beside the extraction, it can take the terminal's ctrl-C while still importing:
    # the user's stop, not a broken pipe to a source the load would retry.
    monkeypatch.setattr(isolated, "__file__", stand_in(tmp_path, "os.kill(os.getpid(), signal.SIGINT)"))
    process = ReadingProcess()
    for _ in range(1000):
        if not process.alive:
            break
        threading.Event().wait(0.01)
    with pytest.raises(KeyboardInterrupt):
        list(read_batches(READ, 30, process))


def test_closing_a_child_while_it_reads_fails_that_read(tmp_path, monkeypatch):
    # A load that fails while its source keys are being read ends their read, in its own thread.
    reads_forever = "sys.stdin.read()\nopen(sys.argv[0] + '.given', 'w').close()\nimport time\ntime.sleep(60)"
    monkeypatch.setattr(isolated, "__file__", stand_in(tmp_path, reads_forever))
    process = ReadingProcess()
    failures: list[BaseException] = []

    def read() -> None:
        try:
            list(process.read(READ, 30))
        except BaseException as error:
            failures.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    given = tmp_path / "child.py.given"  # the child has its settings: the read is under way
    for _ in range(1000):
        if given.exists():
            break
        threading.Event().wait(0.01)
    assert given.exists()
    process.close()
    reader.join(timeout=10)
    assert not reader.is_alive() and not process.alive
    assert len(failures) == 1 and isinstance(failures[0], RuntimeError)
