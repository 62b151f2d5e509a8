"""SQL reads in a child process, so that a frozen server can be given up on.

A server that stops answering (a frozen host, a connection silently dropped by a firewall) sends
nothing and fires no statement timeout, since it is running nothing. connectorx holds the GIL
while it waits for the next rows, so no thread of this process could even notice. The read
therefore runs in a child process (this file, run as a script: it imports only pyarrow and
connectorx) that writes one Arrow IPC stream to its stdout. This process waits for each message
with a limit and, when none comes in time, kills the child and raises `Stalled`; killing the child
also closes its connection, so the server's session ends too.

The read's settings, URL included, go to the child on its stdin, never on its command line (which
any user of the machine can list). The pipe gives back-pressure for free: the child blocks when
this process reads slower than the server sends. Measured by `bench/bench_connectors.py`
(readers `connector` and `cx_stream_in_process`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from select import select
from typing import Literal

import pyarrow as pa

# The child's closing word, on its own pipe: `END <peak RSS in KiB>` or the text of its error.
_END = "END "

log = logging.getLogger("ndc.connectors")


class Stalled(Exception):
    """No rows arrived within the stall limit: the source is frozen or the network silently lost."""


@dataclass(frozen=True)
class SqlRead:
    """One connectorx read, as settings a child process can receive."""

    url: str
    query: str
    batch_rows: int
    pre_execution_query: list[str] | None = None
    partition_on: str | None = None
    partition_num: int | None = None


def read_batches(
    read: SqlRead, stall_timeout_s: float | None, process: ReadingProcess | None = None
) -> Iterator[pa.RecordBatch]:
    """The read's record batches; `Stalled` when none arrives for `stall_timeout_s` seconds.

    `process`, started ahead (ReadingProcess), saves the read its child's start-up; else one is
    started now. The child's errors come back as RuntimeError with its message (the caller
    classifies them).
    """
    yield from (process or ReadingProcess()).read(read, stall_timeout_s)


class ReadingProcess:
    """A child started ahead of its one read, waiting for its settings on stdin.

    Its start-up (Python, pyarrow and connectorx imported: ~0.5 s before the first rows,
    measured in docs/performance.md) is then spent beside other work; it connects to nothing until
    `read` hands it its settings. `close` ends it when the read never came (or cuts one short).
    """

    def __init__(self) -> None:
        self._word_fd, word_end = os.pipe()
        self._child = subprocess.Popen(
            [sys.executable, __file__, str(word_end)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(word_end,),
        )
        os.close(word_end)  # the child's end: EOF on ours when the child exits
        self._lock = threading.Lock()
        self._state: Literal["waiting", "reading", "ended"] = "waiting"

    @property
    def alive(self) -> bool:
        return self._child.poll() is None

    def read(self, read: SqlRead, stall_timeout_s: float | None) -> Iterator[pa.RecordBatch]:
        """As `read_batches`; once."""
        with self._lock:
            if self._state != "waiting":
                raise RuntimeError("this reading process was used or closed already")
            self._state = "reading"
        child = self._child
        assert child.stdin is not None and child.stdout is not None
        try:
            try:
                child.stdin.write(json.dumps(asdict(read)).encode())
                child.stdin.close()
            except BrokenPipeError:  # started ahead, it died first (a ctrl-C during its imports, the OOM killer)
                raise _failure(child, _closing_word(self._word_fd), "the reading process ended before its read") from None
            data = child.stdout.fileno()
            try:
                _wait(data, stall_timeout_s)
                stream = pa.ipc.open_stream(pa.PythonFile(_ExactReads(data), mode="r"))
                while True:
                    _wait(data, stall_timeout_s)
                    try:
                        yield stream.read_next_batch()
                    except StopIteration:
                        break
            except pa.ArrowInvalid as cut:  # the stream ended early: the child's word says why
                raise _failure(child, _closing_word(self._word_fd), f"the read was cut off ({cut})") from None
            word = _closing_word(self._word_fd)
            if not word.startswith(_END):
                raise _failure(child, word, "the reading process ended without a word")
            peak_kib = int(word.removeprefix(_END))
            # Benchmarks add this to the parent's own peak: the two run at once.
            log.debug("sql read child peak RSS %d MiB", peak_kib // 1024, extra={"child_peak_rss_kib": peak_kib})
        finally:
            with self._lock:
                self._state = "ended"
            self._end()

    def close(self) -> None:
        """End the child: at once if its read never came, else by killing it (the read in
        progress then fails as a cut-off read, in its own thread, and cleans up there)."""
        with self._lock:
            state, self._state = self._state, "ended"
        if state == "waiting":
            self._end()
        elif state == "reading" and self._child.poll() is None:
            self._child.kill()

    def _end(self) -> None:
        child = self._child
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a killed child may leave a write to its stdin broken
                    pipe.close()
        os.close(self._word_fd)


def _failure(child: subprocess.Popen[bytes], word: str, wordless: str) -> BaseException:
    """What a read that did not end with `END` raises: the child's error as a RuntimeError, or,
    when it left no word, a KeyboardInterrupt if it died of a SIGINT, else `wordless` and its exit code."""
    if word:
        return RuntimeError(word)
    if _died_of_ctrl_c(child):
        return KeyboardInterrupt()
    return RuntimeError(f"{wordless} (exit code {child.poll()})")


def _died_of_ctrl_c(child: subprocess.Popen[bytes]) -> bool:
    """Whether the child died of a SIGINT. A terminal's ctrl-C reaches the whole process group, and
    one that lands while the child is still importing (before it ignores SIGINT) kills it: that is
    the user's stop, to be raised as one here, not a source failure the load would retry."""
    try:
        return child.wait(timeout=10) == -signal.SIGINT
    except subprocess.TimeoutExpired:
        return False


def _wait(fd: int, stall_timeout_s: float | None) -> None:
    readable, _, _ = select([fd], [], [], stall_timeout_s)
    if not readable:
        raise Stalled(f"no data from the source for {stall_timeout_s:g} s")


def _closing_word(fd: int) -> str:
    """Everything the child wrote on its word pipe (it is written just before the child exits)."""
    readable, _, _ = select([fd], [], [], 10)
    return _ExactReads(fd).read().decode("utf-8", errors="replace").strip() if readable else ""


class _ExactReads:
    """A pipe's reading end as the file pyarrow wants: read(n) returns n bytes unless the pipe ends
    (os.read may return fewer), and never reads ahead of what it is asked for, so when the pipe is
    not readable no rows are waiting in a buffer either and the stall wait is exact."""

    closed = False

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        chunks, missing = [], size if size >= 0 else sys.maxsize
        while missing > 0 and (chunk := os.read(self._fd, min(missing, 1 << 20))):
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.closed = True  # the caller owns the descriptor


def _child(word_fd: int) -> None:
    """Run in the child: read the settings from stdin, stream the rows to stdout, then one word."""
    import connectorx as cx

    settings = sys.stdin.buffer.read()
    if not settings:  # started ahead (ReadingProcess) and never given its read: the parent has gone
        return
    read = SqlRead(**json.loads(settings))
    with os.fdopen(word_fd, "w") as word:
        try:
            reader = cx.read_sql(
                read.url,
                read.query,
                return_type="arrow_stream",
                batch_size=read.batch_rows,
                pre_execution_query=read.pre_execution_query,
                partition_on=read.partition_on,
                partition_num=read.partition_num,
            )
            with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as stream:
                for batch in reader:
                    stream.write_batch(batch)
            sys.stdout.buffer.flush()
            word.write(_END + str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        except BaseException as error:  # connectorx reports server errors as a Rust panic (BaseException)
            word.write(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    # A ctrl-C in the terminal reaches the whole process group: the parent decides what it means
    # (it stops the load and kills this read). Dying of it here would read as a source failure
    # and be retried; one that lands during the imports above, before this line, is recognised
    # by the parent (`_died_of_ctrl_c`).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _child(int(sys.argv[1]))
