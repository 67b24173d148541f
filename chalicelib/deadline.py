"""How long the work in hand may still take: an HTTP request's budget, or the time its Lambda has
left. The store's retry policy never waits past it; the sender claims a card only when it leaves
room for the send; the sweeps stop in time (docs/resilience.md).

A deadline belongs to the work that set it (a context variable): nested ones only shorten it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# When no work set one (a CLI command, a test calling a service): each operation has this long.
UNBOUNDED_WORK_S = 8.0

_ends_at: ContextVar[float | None] = ContextVar("submsg_deadline", default=None)


def now() -> float:
    return time.monotonic()


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """The work inside ends within ``seconds`` (or earlier, if an outer deadline says so)."""
    ends_at = now() + max(0.0, seconds)
    outer = _ends_at.get()
    token = _ends_at.set(ends_at if outer is None else min(outer, ends_at))
    try:
        yield
    finally:
        _ends_at.reset(token)


def ends_at() -> float | None:
    """The monotonic instant the work must be done by; None when no work set one."""
    return _ends_at.get()


def remaining_s() -> float:
    """Seconds left (``UNBOUNDED_WORK_S`` when no work set a deadline)."""
    ends = _ends_at.get()
    return UNBOUNDED_WORK_S if ends is None else max(0.0, ends - now())


@contextmanager
def of_lambda(context: Any, default_s: float, keep_s: float) -> Iterator[None]:
    """The work of one invocation: it ends ``keep_s`` before Lambda stops it (the time to answer,
    a partial batch response)."""
    with within(lambda_remaining_s(context, default_s) - keep_s):
        yield


def lambda_remaining_s(context: Any, default_s: float) -> float:
    """What Lambda's ``context`` says is left of the invocation, in seconds; ``default_s`` when
    there is no context (the local stack's poller, tests)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return default_s
    return max(0.0, remaining() / 1000)
