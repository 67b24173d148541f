"""Statistics counters per app, day and template, and idempotency records."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.dynamo import Dynamo, Item, Update

STATS_SHARDS = 8
COUNTERS = (
    "requested",
    "sent",
    "failed",
    "skipped",
    "clicked",
    "converted",
    "grants_received",
    "grants_expired",
)


class Counters:
    def __init__(self, db: Dynamo) -> None:
        self.db = db

    def increment_op(
        self, app_id: str, day: str, template_id: str, counts: dict[str, int]
    ) -> dict[str, Any]:
        return self.db.update_op(self.increment(app_id, day, template_id, counts))

    def increment(self, app_id: str, day: str, template_id: str, counts: dict[str, int]) -> Update:
        return Update.build(
            layout.stats_key(app_id, day, template_id, random.randrange(STATS_SHARDS)),
            add=counts,
            set_={"day": day, "template_id": template_id},
        )

    def days(self, app_id: str, first_day: str, last_day: str) -> list[Item]:
        low, high = layout.stats_range(first_day, last_day)
        return list(
            self.db.query_all(
                "pk = :pk AND sk BETWEEN :low AND :high",
                {":pk": layout.stats_partition(app_id), ":low": low, ":high": high},
            )
        )


class IdempotencyRecords:
    def __init__(self, db: Dynamo) -> None:
        self.db = db

    def put_op(
        self, app_id: str, key: str, body_hash: str, message_id: str, now: datetime, ttl_s: int
    ) -> dict[str, Any]:
        item = {
            **layout.idempotency_key(app_id, key),
            "body_hash": body_hash,
            "message_id": message_id,
            layout.TTL_ATTRIBUTE: int(now.timestamp()) + ttl_s,
        }
        return self.db.put_op(
            item,
            condition="attribute_not_exists(pk) OR purge_at < :now",
            values={":now": int(now.timestamp())},
        )

    def get(self, app_id: str, key: str, now: datetime) -> Item | None:
        item = self.db.get(layout.idempotency_key(app_id, key), consistent=True)
        if item is None or item[layout.TTL_ATTRIBUTE] < int(now.timestamp()):
            return None
        return item


class CallbackEvents:
    """WeChat retries a push 3 times: remember what was applied (FromUserName+CreateTime+Event)."""

    def __init__(self, db: Dynamo) -> None:
        self.db = db

    def _item(self, app_id: str, key: str, now: datetime, ttl_s: int) -> dict[str, Any]:
        return {
            **layout.callback_event_key(app_id, key),
            layout.TTL_ATTRIBUTE: int(now.timestamp()) + ttl_s,
        }

    def seen_op(self, app_id: str, key: str, now: datetime, ttl_s: int) -> dict[str, Any]:
        return self.db.put_op(
            self._item(app_id, key, now, ttl_s), condition="attribute_not_exists(pk)"
        )

    def seen(self, app_id: str, key: str) -> bool:
        return self.db.get(layout.callback_event_key(app_id, key), consistent=True) is not None

    def remember(self, app_id: str, key: str, now: datetime, ttl_s: int) -> None:
        self.db.put(self._item(app_id, key, now, ttl_s))
