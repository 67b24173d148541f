"""The bench's hot-item phase (bench/contention.py, docs/capacity.md) at a tiny size, so a change
to the services it drives breaks here and not only in `make bench`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench import contention
from chalicelib import bootstrap


@pytest.fixture
def kept_environment() -> Iterator[None]:
    """The bench sets the service's environment for its own run: put the test's back after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    bootstrap.reset()


def test_each_rate_limit_layout_sends_every_card_and_only_the_own_write_costs_one_more(
    kept_environment,
):
    # One sender at a time: no conflict retries a write, so every count is exact.
    found = {figures.layout: figures for figures in contention.measure(cards=5, workers=1)}

    assert set(found) == set(contention.LAYOUTS)
    for figures in found.values():
        assert figures.cards == 4
        assert figures.conflicts == 0
    inside = found["spread in the reservation"]
    assert found["own write before"].writes_per_card == inside.writes_per_card + 1
    assert found["one item in the reservation"].writes_per_card == inside.writes_per_card
    assert found["own write before"].dynamodb_calls_per_card == inside.dynamodb_calls_per_card + 1
