"""Retrying Delta commits that lost an optimistic-concurrency race.

Two writers that read version N both try to write log entry N+1; the store's conditional put
lets exactly one win. delta-rs first retries the commit itself (rebasing a blind append on the
winner); where the winner's changes conflict with ours it raises CommitFailedError. The loser's
work is still valid, so we re-run the whole write (re-reading the table) after a jittered
exponential pause: the retry policy of `retries`, whose docstring says how this combines with
Dagster's step retries.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import tenacity
from deltalake.exceptions import CommitFailedError

from retries import jittered_backoff, policy

log = logging.getLogger(__name__)
MAX_DELAY_S = 5.0


def is_commit_conflict(error: BaseException) -> bool:
    """True for a lost commit race (worth retrying), told by delta-rs's exception type."""
    return isinstance(error, CommitFailedError)


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

    def lost_race(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        assert error is not None  # tenacity sleeps only after a failed attempt
        delay = state.upcoming_sleep
        log.info("commit conflict (attempt %d/%d), retrying in %.3fs: %s",
                 state.attempt_number, attempts, delay, error)
        if on_retry is not None:
            on_retry(state.attempt_number, error)

    retrying = policy(
        attempts=attempts,
        retry_if=is_commit_conflict,
        wait=jittered_backoff(base_delay, MAX_DELAY_S, random.Random()),
        before_sleep=lost_race,
    )
    return retrying(fn)
