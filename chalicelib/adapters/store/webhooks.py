"""Webhook endpoints and their deliveries: the items, the outbox writes, the delivery log.

A delivery is written in the transaction of the move it reports (the outbox) and sits on the
``work`` index, under shards of its own, until an attempt settles it; the webhook sweep reads
only what is due there.
"""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime
from functools import partial
from typing import Any

from chalicelib.adapters.store import cursors, layout
from chalicelib.adapters.store.table import (
    EXISTING,
    NEW,
    AnyOf,
    AtMost,
    BeginsWith,
    Below,
    Cursor,
    Delete,
    Equals,
    Item,
    Missing,
    Put,
    Query,
    Update,
    every,
    start_after,
)
from chalicelib.domain.webhooks import Delivery, DeliveryStatus, Endpoint
from chalicelib.ports import ConditionFailed, Table

DATA = "data_json"  # an event's data, as JSON text (numbers of any kind, nested as sent)


class Webhooks:
    def __init__(self, table: Table, shards: int, retention_s: int) -> None:
        self.table = table
        self.shards = shards
        self.retention_s = retention_s

    # Endpoints --------------------------------------------------------------------------

    def endpoints(self, app_id: str) -> list[Endpoint]:
        query = Query(
            "pk",
            layout.app_partition(app_id),
            sort=BeginsWith(layout.webhook_endpoints_prefix()),
            consistent=True,
        )
        return [Endpoint.model_validate(item) for item in self.table.query_all(query)]

    def endpoint(self, app_id: str, endpoint_id: str) -> Endpoint | None:
        item = self.table.get(layout.webhook_endpoint_key(app_id, endpoint_id), consistent=True)
        return Endpoint.model_validate(item) if item else None

    def put_endpoint(self, endpoint: Endpoint, new: bool = False) -> bool:
        """Create (``new``) or replace an endpoint; False when it is not (or already) there."""
        item = {
            **layout.webhook_endpoint_key(endpoint.app_id, endpoint.id),
            **endpoint.model_dump(mode="json", exclude_none=True),
        }
        try:
            self.table.write(Put(item, NEW if new else EXISTING))
        except ConditionFailed:
            return False
        return True

    def take_probe(self, endpoint: Endpoint, now: datetime, until: datetime) -> Endpoint | None:
        """The failing endpoint's lease for one attempt until ``until``: None when an attempt
        holds it already, or the circuit is open (or the endpoint is gone)."""
        now_ms = layout.epoch_ms(now)
        write = Update(
            layout.webhook_endpoint_key(endpoint.app_id, endpoint.id),
            set={"probe_until_ms": layout.epoch_ms(until)},
            condition=every(
                EXISTING,
                AnyOf((Missing("probe_until_ms"), Below("probe_until_ms", now_ms, True))),
                AnyOf((Missing("open_until_ms"), Below("open_until_ms", now_ms, True))),
            ),
        )
        try:
            item = self.table.write(write, return_new=True)
        except ConditionFailed:
            return None
        return Endpoint.model_validate(item) if item else None

    def endpoint_failed(
        self, endpoint: Endpoint, now: datetime, open_until: datetime | None
    ) -> None:
        """One more failed attempt in a row; the lease given back, the circuit opened until
        ``open_until`` if given; ``failing_since`` set by the first failure."""
        set_: dict[str, Any] = {}
        if endpoint.failing_since is None:
            set_["failing_since"] = now.isoformat()
        if open_until is not None:
            set_["open_until_ms"] = layout.epoch_ms(open_until)
        write = Update(
            layout.webhook_endpoint_key(endpoint.app_id, endpoint.id),
            set=set_,
            add={"failures": 1},
            remove=("probe_until_ms",),
            condition=EXISTING,
        )
        with suppress(ConditionFailed):  # deleted meanwhile
            self.table.write(write)

    def endpoint_recovered(self, endpoint: Endpoint) -> None:
        """A success: the circuit closed, the failures forgotten."""
        write = Update(
            layout.webhook_endpoint_key(endpoint.app_id, endpoint.id),
            set={"failures": 0},
            remove=("failing_since", "open_until_ms", "probe_until_ms"),
            condition=EXISTING,
        )
        with suppress(ConditionFailed):
            self.table.write(write)

    def delete_endpoint(self, app_id: str, endpoint_id: str) -> bool:
        try:
            self.table.write(Delete(layout.webhook_endpoint_key(app_id, endpoint_id), EXISTING))
        except ConditionFailed:
            return False
        return True

    # Deliveries -------------------------------------------------------------------------

    def outbox(self, delivery: Delivery, work_at: datetime) -> Put:
        """The delivery's first write, inside the transaction of the move it reports."""
        return Put(self._item(delivery, work_at), NEW)

    def _item(self, delivery: Delivery, work_at: datetime | None) -> Item:
        record = delivery.model_dump(mode="json", exclude_none=True, exclude={"data"})
        item: Item = {
            **layout.webhook_delivery_key(delivery.app_id, delivery.endpoint_id, delivery.id),
            **record,
            DATA: json.dumps(delivery.data, ensure_ascii=False, separators=(",", ":")),
            layout.TTL_ATTRIBUTE: int(delivery.created_at.timestamp()) + self.retention_s,
        }
        if work_at is not None:
            item.update(self._work(delivery.id, work_at))
        if delivery.openid is not None:
            item[layout.USER_PK] = layout.webhook_user_partition(delivery.app_id, delivery.openid)
            item[layout.USER_SK] = layout.webhook_user_sort(delivery.endpoint_id, delivery.id)
        return item

    def _work(self, delivery_id: str, work_at: datetime) -> dict[str, Any]:
        shard = layout.shard_of(delivery_id, self.shards)
        return {
            layout.WORK_PK: layout.webhook_work_shard(shard),
            layout.WORK_AT: layout.epoch_ms(work_at),
        }

    def delivery(self, app_id: str, endpoint_id: str, delivery_id: str) -> Delivery | None:
        key = layout.webhook_delivery_key(app_id, endpoint_id, delivery_id)
        item = self.table.get(key, consistent=True)
        return from_item(item) if item else None

    def user_deliveries(self, app_id: str, openid: str) -> list[tuple[dict[str, str], Delivery]]:
        """Every delivery about this user, with its key (the ``by_user`` index, no scan)."""
        query = Query(
            layout.USER_PK,
            layout.webhook_user_partition(app_id, openid),
            sort_key=layout.USER_SK,
            index=layout.USER_INDEX,
        )
        return [
            ({"pk": item["pk"], "sk": item["sk"]}, from_item(item))
            for item in self.table.query_all(query)
        ]

    def deliveries(
        self,
        app_id: str,
        endpoint_id: str,
        status: DeliveryStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Delivery], str | None]:
        """One page of the endpoint's log, newest first (a status filter may answer fewer)."""
        check = partial(layout.webhook_deliveries_start, app_id, endpoint_id)
        start = cursors.opened(cursor, check) if cursor else None
        query = Query(
            "pk",
            layout.webhook_deliveries_partition(app_id, endpoint_id),
            forward=False,
            limit=limit,
            filter=Equals("status", status.value) if status is not None else None,
        )
        items, start = self.table.query(query, start)
        found = [from_item(item) for item in items]
        if len(items) == limit and items and start is not None:
            start = start_after(items[-1], query)
        return found, cursors.cursor_out(start)

    def settle(
        self,
        delivery: Delivery,
        attempts: int,
        fields: dict[str, Any],
        work_at: datetime | None = None,
    ) -> bool:
        """Write what became of the delivery after ``attempts`` attempts: done (off the work
        index) unless it is to be worked on again at ``work_at``; only if nothing settled it since
        ``delivery`` was read (still pending, with the attempts it had): False otherwise."""
        set_: dict[str, Any] = {"attempts": attempts}
        remove: list[str] = []
        if work_at is not None:
            set_.update(self._work(delivery.id, work_at))
        for name, value in fields.items():
            if value is None:
                remove.append(name)
            else:
                set_[name] = value.isoformat() if isinstance(value, datetime) else value
        if work_at is None:
            remove += [layout.WORK_PK, layout.WORK_AT]
        key = layout.webhook_delivery_key(delivery.app_id, delivery.endpoint_id, delivery.id)
        pending = every(
            Equals("status", DeliveryStatus.PENDING.value), Equals("attempts", delivery.attempts)
        )
        try:
            self.table.write(Update(key, set=set_, remove=tuple(remove), condition=pending))
        except ConditionFailed:
            return False
        return True

    def add(self, delivery: Delivery, work_at: datetime) -> None:
        """A delivery outside any move's transaction (a test event)."""
        self.table.write(self.outbox(delivery, work_at))

    def delete(self, keys: list[dict[str, str]]) -> None:
        self.table.delete_many(keys)

    def reopen(self, delivery: Delivery, now: datetime, work_at: datetime) -> Delivery | None:
        """A manual retry: pending again at once (the attempts go on counting)."""
        key = layout.webhook_delivery_key(delivery.app_id, delivery.endpoint_id, delivery.id)
        write = Update(
            key,
            set={
                "status": DeliveryStatus.PENDING.value,
                "next_attempt_at": now.isoformat(),
                **self._work(delivery.id, work_at),
            },
            condition=every(EXISTING),
        )
        try:
            item = self.table.write(write, return_new=True)
        except ConditionFailed:
            return None
        return from_item(item) if item else None

    def lease(self, item: Item, work_at: datetime) -> bool:
        """The sweep took a due delivery: it comes back at ``work_at`` unless settled first."""
        key = {"pk": item["pk"], "sk": item["sk"]}
        write = Update(
            key,
            set={layout.WORK_AT: layout.epoch_ms(work_at)},
            condition=every(Equals(layout.WORK_AT, item[layout.WORK_AT])),
        )
        try:
            self.table.write(write)
        except ConditionFailed:
            return False
        return True

    def due(
        self, shard: int, horizon: datetime, limit: int, start: Cursor | None = None
    ) -> tuple[list[Delivery], list[Item], Cursor | None]:
        query = Query(
            layout.WORK_PK,
            layout.webhook_work_shard(shard),
            sort_key=layout.WORK_AT,
            sort=AtMost(layout.epoch_ms(horizon)),
            index=layout.WORK_INDEX,
            limit=limit,
        )
        items, start = self.table.query(query, start)
        return [from_item(item) for item in items], items, start


def from_item(item: Item) -> Delivery:
    return Delivery.model_validate({**item, "data": json.loads(item.get(DATA) or "{}")})
