"""Statistics counters per app, day and template; idempotency records; callback events seen."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import NEW, AnyOf, Below, Between, Item, Put, Query, Update
from chalicelib.domain.statistics import Counter
from chalicelib.ports import Table


def checked[N: StrEnum](names: type[N], counts: Mapping[N, int]) -> dict[str, int]:
    """``counts`` as the attributes they add to; ValueError for a name that is not one of
    ``names`` (a plain string too: a typo must not become a counter nobody reads)."""
    for name in counts:
        if not isinstance(name, names):
            raise ValueError(f"{name!r} is not a {names.__name__}")
    return {name.value: delta for name, delta in counts.items()}


def read[N: StrEnum](names: type[N], item: Item) -> dict[N, int]:
    """The counters an item holds, by their names (every name, zero where none was added)."""
    return {name: int(item.get(name.value, 0)) for name in names}


def shard_pick(shards: int) -> int:
    """The shard one write goes to: any of the writers' ``shards``, at random."""
    return random.randrange(min(shards, layout.COUNTER_SHARDS))


@dataclass(frozen=True)
class DayCounts:
    """One counter item of the app's statistics: a day, a template, what one shard holds."""

    day: str
    template_id: str
    counts: dict[Counter, int]


class Counters:
    """The app's daily counters per template, spread over shards (docs/storage.md#counters)."""

    def __init__(self, table: Table, shards: int) -> None:
        self.table = table
        self.shards = shards

    def increment(
        self, app_id: str, day: str, template_id: str, counts: Mapping[Counter, int]
    ) -> Update:
        """Add ``counts`` to one shard of the day's counters (concurrent writes rarely meet)."""
        adds = checked(Counter, counts)
        key = layout.stats_key(app_id, day, template_id, shard_pick(self.shards))
        return Update(key, set={"day": day, "template_id": template_id}, add=adds)

    def days(self, app_id: str, first_day: str, last_day: str) -> list[DayCounts]:
        """Every shard's items of the days from ``first_day`` to ``last_day`` (one Query per
        shard that may hold items, whatever the writers' count is now)."""
        low, high = layout.stats_range(first_day, last_day)
        found = []
        for shard in range(layout.COUNTER_SHARDS):
            partition = layout.stats_partition(app_id, shard)
            for item in self.table.query_all(Query("pk", partition, sort=Between(low, high))):
                found.append(DayCounts(item["day"], item["template_id"], read(Counter, item)))
        return found


class Protected(StrEnum):
    """What an Idempotency-Key protects: the same key on two routes is two keys."""

    MESSAGE = "message"
    CAMPAIGN = "campaign"


class IdempotencyRecords:
    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(
        self,
        app_id: str,
        protects: Protected,
        key: str,
        body_hash: str,
        created_id: str,
        now: datetime,
        ttl_s: int,
    ) -> Put:
        """Take the key for what it creates (``created_id``), unless it is taken and not yet
        expired."""
        item = {
            **layout.idempotency_key(app_id, protects, key),
            "body_hash": body_hash,
            "created_id": created_id,
            layout.TTL_ATTRIBUTE: int(now.timestamp()) + ttl_s,
        }
        expired = Below(layout.TTL_ATTRIBUTE, int(now.timestamp()))
        return Put(item, AnyOf((NEW, expired)))

    def get(self, app_id: str, protects: Protected, key: str, now: datetime) -> Item | None:
        item = self.table.get(layout.idempotency_key(app_id, protects, key), consistent=True)
        if item is None or item[layout.TTL_ATTRIBUTE] < int(now.timestamp()):
            return None
        return item


class CallbackEvents:
    """WeChat retries a push 3 times: remember what was applied (FromUserName+CreateTime+Event)."""

    def __init__(self, table: Table, ttl_s: int) -> None:
        self.table = table
        self.ttl_s = ttl_s

    def _item(self, app_id: str, key: str, now: datetime) -> Item:
        return {
            **layout.callback_event_key(app_id, key),
            layout.TTL_ATTRIBUTE: int(now.timestamp()) + self.ttl_s,
        }

    def first_time(self, app_id: str, key: str, now: datetime) -> Put:
        """Remember the event; the condition fails when it was seen before."""
        return Put(self._item(app_id, key, now), NEW)

    def seen(self, app_id: str, key: str) -> bool:
        return self.table.get(layout.callback_event_key(app_id, key), consistent=True) is not None

    def remember(self, app_id: str, key: str, now: datetime) -> None:
        self.table.write(Put(self._item(app_id, key, now)))
