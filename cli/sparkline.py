"""Sparklines: a series of counts as one line of block characters, for a terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One block per value, scaled from zero to the largest value: zero is always the lowest
    block and any count above zero at least the second, so a quiet day never looks empty."""
    top = max(values, default=0)
    return "".join(BLOCKS[_level(value, top)] for value in values)


def _level(value: float, top: float) -> int:
    if value <= 0 or top <= 0:
        return 0
    return max(1, math.ceil(value * (len(BLOCKS) - 1) / top))


def run_length(count: int, at_most: int) -> int:
    """How many consecutive values one mark stands for, for ``count`` values to take at most
    ``at_most`` marks (``at_most`` ≥ 1)."""
    return max(1, math.ceil(count / at_most))


def averages(values: Sequence[int], size: int) -> list[float]:
    """The averages of ``values`` over runs of ``size`` consecutive ones. The last run may be
    shorter: an average, unlike a sum, does not dip for it."""
    runs = [values[start : start + size] for start in range(0, len(values), size)]
    return [sum(run) / len(run) for run in runs]
