"""The pinned wall clock: where every test starts, and how processes started by a test share it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

APP_TIMEZONE = ZoneInfo("Asia/Shanghai")  # the apps' default: statistics count its days
# Every test starts here, and the clock ticks on: Sunday in UTC, Monday 00:30 in Shanghai, so a
# test that mixes up the UTC date and the app's date, or the week's start, fails at once.
PINNED_AT = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)

CLOCK_SHIFT = Path(__file__).parent.parent / "clock_shift"


@contextmanager
def clock_for_processes(start: datetime) -> Iterator[time_machine.Traveller]:
    """This process's wall clock starts at ``start`` and ticks; processes started meanwhile
    (the local stack's) read the same clock, through tests/clock_shift/sitecustomize.py."""
    with time_machine.travel(start, tick=True) as traveller, pytest.MonkeyPatch.context() as env:
        offset = start.timestamp() - time_machine.escape_hatch.time.time()
        env.setenv("SUBMSG_TEST_CLOCK_OFFSET_S", repr(offset))
        paths = [str(CLOCK_SHIFT), os.environ.get("PYTHONPATH", "")]
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
        yield traveller


class MovingClock:
    """A wall clock that ticks from where it was set; ``at(t)`` jumps to t and ticks on."""

    def __init__(self, start: datetime) -> None:
        self._traveller = time_machine.travel(start, tick=True)
        self._traveller.start()

    def at(self, moment: datetime) -> None:
        self._traveller.stop()
        self._traveller = time_machine.travel(moment, tick=True)
        self._traveller.start()

    def stop(self) -> None:
        self._traveller.stop()


@contextmanager
def moving_clock(start: datetime) -> Iterator[MovingClock]:
    clock = MovingClock(start)
    try:
        yield clock
    finally:
        clock.stop()


def pinned_for_the_module() -> Any:
    """For a module whose fixtures outlive one test: ``pinned_clock = pinned_for_the_module()``."""

    @pytest.fixture(scope="module", autouse=True)
    def pinned_clock() -> Iterator[time_machine.Traveller]:
        with clock_for_processes(PINNED_AT) as traveller:
            yield traveller

    return pinned_clock


def app_day(instant: str | datetime) -> str:
    """The statistics day of an instant: the date in the app's timezone, not in UTC."""
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return moment.astimezone(APP_TIMEZONE).date().isoformat()


def wait_for(found: Callable[[], Any], timeout_s: float = 20.0, every_s: float = 0.05) -> Any:
    """Poll ``found`` until it returns something truthy (bounded in time); that value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"nothing after {timeout_s} s")


def settings_from_now_on(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``apply(DUE_SHARDS=4, ...)``: SUBMSG_* settings for every container from then on."""
    from chalicelib import bootstrap

    def apply(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"SUBMSG_{name}", str(value))
        bootstrap.reset()  # settings are read once per container

    return apply
