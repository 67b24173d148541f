"""Statistics counters per app, day and template; idempotency records; callback events seen."""

from __future__ import annotations

import random
from datetime import datetime
from enum import StrEnum

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import NEW, AnyOf, Below, Between, Item, Put, Query, Update
from chalicelib.ports import Table


class Counters:
    def __init__(self, table: Table, shards: int) -> None:
        self.table = table
        self.shards = shards

    def increment(self, app_id: str, day: str, template_id: str, counts: dict[str, int]) -> Update:
        """Add ``counts`` to one shard of the day's counters (concurrent writes rarely meet)."""
        key = layout.stats_key(app_id, day, template_id, random.randrange(self.shards))
        return Update(key, set={"day": day, "template_id": template_id}, add=counts)

    def days(self, app_id: str, first_day: str, last_day: str) -> list[Item]:
        low, high = layout.stats_range(first_day, last_day)
        query = Query("pk", layout.stats_partition(app_id), sort=Between(low, high))
        return list(self.table.query_all(query))


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
