"""The due sweep's scheduler of pages: shards in turn from a rotating start, within a budget
(chalicelib/services/sweep_pages.py)."""

from __future__ import annotations

import threading

import pytest

from chalicelib.services.sweep_pages import Budget, rotated, sweep


def pages_of(sizes: dict[int, int]):
    """A reader over shards of ``sizes`` pages each: the cursor is the next page's number."""

    def read(shard: int, cursor: int | None) -> tuple[tuple[int, int], int | None]:
        page = cursor or 0
        return (shard, page), (page + 1 if page + 1 < sizes[shard] else None)

    return read


def plenty() -> Budget:
    return Budget(60.0, None, 0.0)


def test_a_run_starts_at_its_shard_and_goes_round_the_others():
    assert rotated(4, 0) == [0, 1, 2, 3]
    assert rotated(4, 3) == [3, 0, 1, 2]


def test_a_shard_with_a_backlog_takes_one_page_in_turn_with_the_others():
    handled = []
    outcome = sweep([0, 1, 2], 1, plenty(), pages_of({0: 4, 1: 1, 2: 2}), handled.append)

    assert handled == [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (0, 3)]
    assert (outcome.pages, outcome.stopped, outcome.unfinished) == (7, False, [])


def test_the_budget_stops_before_a_page_and_names_the_shards_left():
    asked = []

    def remaining_ms() -> int:
        asked.append(1)
        return 10_000 if len(asked) <= 4 else 500

    handled = []
    budget = Budget(60.0, remaining_ms, reserve_s=1.0)
    outcome = sweep([2, 0, 1], 1, budget, pages_of({0: 3, 1: 1, 2: 3}), handled.append)

    assert handled == [(2, 0), (0, 0), (1, 0), (2, 1)]
    assert (outcome.pages, outcome.stopped, outcome.unfinished) == (4, True, [0, 2])


def test_workers_read_every_page_once_and_at_the_same_time():
    seen, lock = [], threading.Lock()
    both_reading = threading.Barrier(2, timeout=5)

    def handle(page: tuple[int, int]) -> None:
        if page[1] == 0 and page[0] < 2:
            both_reading.wait()  # the first pages of shards 0 and 1 are handled at once
        with lock:
            seen.append(page)

    sizes = {shard: 5 for shard in range(4)}
    outcome = sweep([0, 1, 2, 3], 3, plenty(), pages_of(sizes), handle)

    assert sorted(seen) == [(shard, page) for shard in range(4) for page in range(5)]
    assert outcome.pages == 20


def test_a_worker_that_fails_stops_the_others_and_its_error_is_raised():
    handled = []

    def handle(page: tuple[int, int]) -> None:
        if page == (1, 0):
            raise RuntimeError("the page could not be enqueued")
        handled.append(page)

    with pytest.raises(RuntimeError, match="could not be enqueued"):
        sweep([0, 1, 2], 1, plenty(), pages_of({0: 50, 1: 1, 2: 50}), handle)
    assert handled == [(0, 0)]
