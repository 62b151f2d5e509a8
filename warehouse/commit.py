"""Retrying Delta commits that lost an optimistic-concurrency race.

Two writers that read version N both try to write log entry N+1; the store's conditional put
lets exactly one win and the other gets CommitFailedError. The loser's work is still valid, so
we re-run the whole write (re-reading the table) after a jittered exponential pause.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from deltalake.exceptions import CommitFailedError, DeltaError

log = logging.getLogger(__name__)

# delta-rs reports some conflicts as a plain DeltaError with the conflict in the message
# (e.g. "Transaction failed: version already exists" / "concurrent transaction").
_CONFLICT_MARKERS = (
    "version already exists",
    "concurrent",
    "conflict",
    "existing table version",
)


def is_commit_conflict(error: BaseException) -> bool:
    """True for a lost commit race (worth retrying); False for anything else."""
    if isinstance(error, CommitFailedError):
        return True
    if isinstance(error, DeltaError):
        message = str(error).lower()
        return any(marker in message for marker in _CONFLICT_MARKERS)
    return False


def backoff_delay(attempt: int, base_delay: float, *, max_delay: float = 5.0) -> float:
    """Full-jitter exponential backoff: uniform(0, min(max, base·2^attempt)) with a small floor."""
    ceiling = min(max_delay, base_delay * (2**attempt))
    return base_delay / 2 + random.uniform(0, ceiling)


def with_commit_retry[T](
    fn: Callable[[], T],
    *,
    attempts: int = 8,
    base_delay: float = 0.05,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Call `fn` until its commit wins, at most `attempts` times; re-raise other errors at once.

    `on_retry(attempt, error)` is told of each lost race (for metrics / logs).

    `fn` must be safe to repeat: it should re-open the table (DeltaTable(uri) or write_deltalake)
    on each call so that it builds on the winner's version.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as error:
            if not is_commit_conflict(error) or attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base_delay)
            log.info(
                "commit conflict (attempt %d/%d), retrying in %.3fs: %s", attempt + 1, attempts, delay, error
            )
            if on_retry is not None:
                on_retry(attempt + 1, error)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
