"""A small per-container cache with a time limit, for configuration read on every call.

Only what was found is kept: a key, app or template that does not exist yet must work the
moment it is created, in every container, so a miss is never remembered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class TtlCache[V]:
    def __init__(self, ttl_s: float, max_items: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        with self._lock:
            found = self._items.get(key)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        value = load()
        if value is None:
            return None
        with self._lock:
            if len(self._items) >= self.max_items:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl_s, value)
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)
