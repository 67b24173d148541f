"""The due sweep's shards, swept in parallel: pages handed round-robin to worker threads, each
taken only while the time budget lasts.

Every shard starts as one page to read. A worker takes the oldest page waiting, reads it, puts
the shard's next page at the back of the line at once (another worker may read it while this
one enqueues what it found) and then handles what it read. A shard with a backlog therefore
gets one page in turn with every other shard: it never holds the others up. Where the line
starts rotates from one run to the next, so when the budget ends within the first round it is
not always the same shards that wait for the next run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

WAIT_S = 0.05  # how long an idle worker waits for a page another worker is reading


class Budget:
    """Time left to start a page: ``seconds`` from now, and the Lambda's remaining time
    (``remaining_ms``, None outside Lambda) less ``reserve_s`` kept to finish in time."""

    def __init__(
        self, seconds: float, remaining_ms: Callable[[], int] | None, reserve_s: float
    ) -> None:
        self._deadline = time.monotonic() + seconds
        self._remaining_ms = remaining_ms
        self._reserve_ms = reserve_s * 1000

    def left(self) -> bool:
        if time.monotonic() >= self._deadline:
            return False
        return self._remaining_ms is None or self._remaining_ms() > self._reserve_ms


def rotated(shards: int, first: int) -> list[int]:
    """The shards in the order one run starts them: ``first``, the ones after it, then the rest."""
    return [(first + n) % shards for n in range(shards)]


@dataclass
class Outcome:
    pages: int = 0
    stopped: bool = False  # the budget ended with pages still to read
    unfinished: list[int] = field(default_factory=list)  # the shards of those pages


class Line[Cursor]:
    """The pages waiting to be read, ``(shard, cursor)``, and the ones being read now."""

    def __init__(self, shards: list[int], budget: Budget) -> None:
        self._waiting: deque[tuple[int, Cursor | None]] = deque((s, None) for s in shards)
        self._reading = 0
        self._budget = budget
        self._failed = False
        self._ready = threading.Condition()
        self.outcome = Outcome()

    def take(self) -> tuple[int, Cursor | None] | None:
        """The next page to read; None when every shard is done, time is up, or a worker failed."""
        with self._ready:
            while True:
                if self._failed:
                    return None
                if self._waiting and not self._budget.left():
                    self.outcome.stopped = True
                    return None
                if self._waiting:
                    self._reading += 1
                    self.outcome.pages += 1
                    return self._waiting.popleft()
                if self._reading == 0:
                    return None
                self._ready.wait(WAIT_S)

    def read(self, shard: int, after: Cursor | None) -> None:
        """A page was read: the shard's next one (if any) joins the back of the line."""
        with self._ready:
            self._reading -= 1
            if after is not None:
                self._waiting.append((shard, after))
            self._ready.notify_all()

    def waiting_shards(self) -> list[int]:
        """The shards whose pages were not read, in the order they waited."""
        with self._ready:
            return list(dict.fromkeys(shard for shard, _ in self._waiting))

    def fail(self) -> None:
        with self._ready:
            self._failed = True
            self._ready.notify_all()


def sweep[Cursor, Page](
    shards: list[int],
    workers: int,
    budget: Budget,
    read: Callable[[int, Cursor | None], tuple[Page, Cursor | None]],
    handle: Callable[[Page], None],
) -> Outcome:
    """Read every shard's pages with ``read(shard, cursor)`` and ``handle`` each, ``workers`` at
    a time. A worker that raises stops the others from taking more; the error is raised here."""
    line: Line[Cursor] = Line(shards, budget)

    def work() -> None:
        try:
            while (taken := line.take()) is not None:
                shard, cursor = taken
                after: Cursor | None = None
                try:
                    page, after = read(shard, cursor)
                finally:
                    line.read(shard, after)
                handle(page)
        except BaseException:
            line.fail()
            raise

    if workers <= 1:
        work()
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="due-sweep") as pool:
            running = [pool.submit(work) for _ in range(workers)]
            for done in running:
                done.result()
    if line.outcome.stopped:
        line.outcome.unfinished = line.waiting_shards()
    return line.outcome
