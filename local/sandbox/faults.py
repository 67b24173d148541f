"""Faults injected into the next sends: an errcode, an HTTP status, a delay, or a mix."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from local.sandbox.base import is_int


@dataclass(frozen=True)
class Fault:
    errcode: int | None
    http_status: int | None
    delay_s: float


def checked(errcode: object, http_status: object, delay_s: object) -> Fault:
    if errcode is not None and (not is_int(errcode) or errcode == 0):
        raise ValueError("errcode must be a non-zero integer")
    if http_status is not None and not (is_int(http_status) and 400 <= http_status <= 599):
        raise ValueError("http_status must be an integer from 400 to 599")
    if not isinstance(delay_s, int | float) or isinstance(delay_s, bool):
        raise ValueError("delay_s must be a number")
    if not (math.isfinite(delay_s) and 0 <= delay_s <= 600):
        raise ValueError("delay_s must be between 0 and 600")
    if errcode is None and http_status is None and delay_s == 0:
        raise ValueError("a fault needs an errcode, an http_status or a delay_s")
    return Fault(errcode, http_status, float(delay_s))


class Faults:
    """The faults still to apply, one per send, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[Fault] = deque()

    def add(self, errcode: object, http_status: object, delay_s: object, count: object) -> None:
        fault = checked(errcode, http_status, delay_s)
        if not (is_int(count) and 1 <= count <= 10_000):
            raise ValueError("count must be an integer from 1 to 10000")
        with self._lock:
            self._pending.extend([fault] * count)

    def take(self) -> Fault | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None
