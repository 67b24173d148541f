"""The per-app rate limit's counters: one fixed window a second per app, spread over shards.

An app's ``requests_per_second`` is split over the shards of each second (shard ``i`` takes its
share, the shares sum to the limit), each shard its own partition key. A request is counted by a
conditional ADD on one shard picked at random, so concurrent requests of one app rarely write the
same item: the count can sit inside the card's reservation transaction without making every
concurrent send of the app conflict on one item (docs/capacity.md#the-rate-limit). When the
picked shard is full, one read of the second's shards finds one with room, if any.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import AnyOf, Below, Missing, Update
from chalicelib.ports import ConditionFailed, Table

SHARDS = 32  # the most shards a second is spread over (fewer for a limit below it)
KEPT_S = 120  # the counter outlives its second briefly (TTL is cleanup, not timing)
RETRIES = 2  # shards with room tried after the picked one was full


@dataclass(frozen=True)
class Window:
    """The second a request counts in, and the shard it is counted on."""

    app_id: str
    limit: int
    second: int
    shard: int


class RateLimits:
    def __init__(self, table: Table, shards: int = SHARDS) -> None:
        self.table = table
        self.shards = shards

    def _spread(self, limit: int) -> int:
        return max(1, min(self.shards, limit))

    def share(self, limit: int, shard: int) -> int:
        """Shard ``shard``'s part of ``limit``: the parts differ by one at most and sum to it."""
        spread = self._spread(limit)
        return limit // spread + (1 if shard < limit % spread else 0)

    def window(self, app_id: str, limit: int, moment: float) -> Window:
        """A shard picked at random for a request at ``moment`` (epoch seconds)."""
        second = math.floor(moment)
        return Window(app_id, limit, second, random.randrange(self._spread(limit)))

    def taken(self, window: Window) -> Update:
        """One request counted on the window's shard, refused when the shard's part is used."""
        share = self.share(window.limit, window.shard)
        under = AnyOf((Missing("n"), Below("n", share)))
        return Update(
            layout.rate_key(window.app_id, window.second, window.shard),
            set={layout.TTL_ATTRIBUTE: window.second + KEPT_S},
            add={"n": 1},
            condition=under,
        )

    def with_room(self, window: Window) -> list[Window]:
        """The second's other shards that still have room, most room first (one read)."""
        spread = self._spread(window.limit)
        keys = [layout.rate_key(window.app_id, window.second, n) for n in range(spread)]
        used = {item["pk"]: int(item.get("n", 0)) for item in self.table.get_many(keys)}
        room = {
            n: self.share(window.limit, n) - used.get(keys[n]["pk"], 0)
            for n in range(spread)
            if n != window.shard
        }
        ordered = sorted((n for n, left in room.items() if left > 0), key=lambda n: -room[n])
        return [Window(window.app_id, window.limit, window.second, n) for n in ordered]

    def count(self, app_id: str, limit: int, moment: float) -> bool:
        """Count one request on its own; False when the app is over its limit this second."""
        window = self.window(app_id, limit, moment)
        try:
            self.table.write(self.taken(window))
            return True
        except ConditionFailed:
            pass
        for other in self.with_room(window)[:RETRIES]:
            try:
                self.table.write(self.taken(other))
                return True
            except ConditionFailed:
                continue
        return False
