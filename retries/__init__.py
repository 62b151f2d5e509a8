"""The one retry policy of NDC Pipelines, and how its three levels multiply.

Every retry loop in our code is a `policy(...)` from here: tenacity's `Retrying` with a fixed
number of attempts, a predicate that says which exceptions are worth another try (anything else is
raised at once), and exponential backoff with jitter: `base·2^attempt` capped, times a factor in
[0.5, 1.5), so writers that collided once do not collide again in step.

Three levels retry, each around the one below; a failure retried at one level is tried afresh at
the next, so the worst cases multiply:

1. **One REST request** (`connectors/rest.py`): connection errors, timeouts, 429 and 5xx, up to
   `max_retries` (default 5) retries, i.e. 6 attempts, honouring `Retry-After`; each wait is capped
   at `max_backoff_s` (30 s). After that the connector raises `SourceUnreachable`.
2. **One Delta commit** (`warehouse/commit.py`): a commit that lost an optimistic-concurrency race
   (`deltalake.exceptions.CommitFailedError`, after delta-rs's own internal commit retries) is
   re-run whole, re-reading the table, up to 8 attempts. Not a write whose rows are a stream read
   once (bronze, written from the extraction): its retry would find the stream drained, so it
   raises `StreamSpent` at once (warehouse/tables.py) and level 3 reads the source again.
3. **One Dagster step** (`assets/ministries.py` load assets: `RetryPolicy(max_retries=2, delay=5,
   backoff=EXPONENTIAL, jitter=PLUS_MINUS)`; `assets/maintenance.py`'s op: the same with
   `delay=30`): the whole load re-runs, 3 attempts in all; it is idempotent by run id. A load
   stopped on request (ctrl-C, the UI's Terminate) is not retried (`assets/interrupts.py`).

So one REST request is tried at most 6 × 3 = **18 times** in one run (with waits of up to 30 s
each between the first six, then Dagster's delay), and one Delta write at most 8 × 3 = 24 times.
Change a number at one level and this paragraph, together.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import tenacity


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: base·2^attempt capped at cap, scaled by a factor in [0.5, 1.5)."""
    return min(cap_s, base_s * (2**attempt)) * (0.5 + rng.random())


def jittered_backoff(
    base_s: float, cap_s: float, rng: random.Random
) -> Callable[[tenacity.RetryCallState], float]:
    """A tenacity wait: `backoff_delay` of the attempt that just failed (0 for the first)."""

    def wait(state: tenacity.RetryCallState) -> float:
        return backoff_delay(state.attempt_number - 1, base_s, cap_s, rng)

    return wait


def policy(
    *,
    attempts: int,
    retry_if: Callable[[BaseException], bool],
    wait: Callable[[tenacity.RetryCallState], float],
    sleep: Callable[[float], None] = time.sleep,
    before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
) -> tenacity.Retrying:
    """Call `fn` with `policy(...)(fn)`: at most `attempts` tries while `retry_if(error)` holds.

    The last error is raised as itself (not wrapped in tenacity's RetryError), and an error that
    `retry_if` refuses is raised at once, so callers catch the exceptions they already know.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        retry=tenacity.retry_if_exception(retry_if),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
