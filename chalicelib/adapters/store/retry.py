"""One retry policy for every request the table gets (docs/resilience.md).

A conflict (another transaction was writing one of the items) or a throttle (after botocore's
own retries) wrote nothing, so the same request is sent again, after a jittered exponential
backoff, until it lands or the work's deadline (``chalicelib.deadline``) would pass: then
``DeadlinePassed``, which the HTTP layer answers 503 ``unavailable`` with ``Retry-After``. A
condition that does not hold is never retried: it is an answer (``ConditionFailed``,
``TransactionFailed``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from chalicelib import deadline
from chalicelib.adapters import metrics
from chalicelib.adapters.store import table as t
from chalicelib.adapters.store.table import Cursor, Item, Key
from chalicelib.ports import Conflict, DeadlinePassed, Name, Table, Throttled, Transient

FIRST_PAUSE_S = 0.01  # the first backoff; each next one doubles, up to MAX_PAUSE_S
MAX_PAUSE_S = 0.5
# Retry-After of a 503: a conflict clears in milliseconds, a throttle in about a second.
RETRY_AFTER_S = {Conflict: 1, Throttled: 2}


def pause_s(attempt: int, rng: random.Random | None = None) -> float:
    """The backoff before retry ``attempt`` (0, 1, …): "equal jitter", half fixed, half random,
    so contenders spread out and none spins."""
    ceiling = min(MAX_PAUSE_S, FIRST_PAUSE_S * 2**attempt)
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def retrying[R](call: Callable[[], R], sleep: Callable[[float], None] = time.sleep) -> R:
    """``call()``, again after each ``Transient`` failure until the deadline would pass."""
    ends_at = deadline.ends_at()
    if ends_at is None:
        ends_at = deadline.now() + deadline.UNBOUNDED_WORK_S
    attempt = 0
    while True:
        try:
            return call()
        except Transient as busy:
            pause = pause_s(attempt)
            if deadline.now() + pause >= ends_at:
                after = RETRY_AFTER_S.get(type(busy), 1)
                raise DeadlinePassed(after, type(busy).__name__) from busy
            if isinstance(busy, Conflict):
                metrics.store_conflict_retried()
            sleep(pause)
            attempt += 1


class RetryingTable:
    """The Table port of ``table``, every request under the retry policy."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __getattr__(self, name: str) -> object:
        return getattr(self.table, name)  # what a test inspects of the table beneath (client)

    def get(self, key: Key, consistent: bool = False) -> Item | None:
        return retrying(lambda: self.table.get(key, consistent))

    def get_many(self, keys: Sequence[Key]) -> list[Item]:
        return retrying(lambda: self.table.get_many(keys))

    def write(self, write: t.Write, return_new: bool = False) -> Item | None:
        return retrying(lambda: self.table.write(write, return_new))

    def query(
        self, query: t.Query, start: Cursor | None = None
    ) -> tuple[list[Item], Cursor | None]:
        return retrying(lambda: self.table.query(query, start))

    def query_all(self, query: t.Query) -> Iterator[Item]:
        return t.all_pages(self.query, query)

    def commit(self, writes: Mapping[Name, t.Write]) -> None:
        retrying(lambda: self.table.commit(writes))

    def delete_many(self, keys: Sequence[Key]) -> None:
        retrying(lambda: self.table.delete_many(keys))

    def answers(self) -> bool:
        return self.table.answers()
