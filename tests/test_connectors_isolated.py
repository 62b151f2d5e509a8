"""The SQL read's child process (connectors/isolated.py): how its end reads in the parent.

The child is a stand-in script here (its own read is tried against real servers in
tests/test_connectors_postgres.py): what is tested is the parent telling a ctrl-C from a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import isolated
from connectors.isolated import SqlRead, read_batches

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
