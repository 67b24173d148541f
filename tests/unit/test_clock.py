"""Identifiers: time-ordered within a container, even when made faster than the clock ticks."""

from __future__ import annotations

import pytest
import time_machine

from chalicelib.domain import clock
from tests.support.clocks import PINNED_AT


@pytest.fixture(autouse=True)
def new_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """No id made yet (the tests before this one moved the clock far and wide)."""
    monkeypatch.setattr(clock, "_last_id_ms", 0)


def stamp(made: str) -> int:
    return int(made.split("_")[1][:12], 16)


def test_ids_made_in_one_millisecond_sort_in_the_order_they_were_made():
    with time_machine.travel(PINNED_AT, tick=False):
        made = [clock.new_id("msg") for _ in range(50)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(found) == len("msg_") + 28 for found in made)


def test_an_id_carries_the_millisecond_it_was_made_once_the_clock_moved_on():
    with time_machine.travel(PINNED_AT, tick=False) as traveller:
        first = clock.new_id("cmp")
        traveller.shift(1)
        later = clock.new_id("cmp")
    assert stamp(first) == int(PINNED_AT.timestamp() * 1000)
    assert stamp(later) == stamp(first) + 1000
