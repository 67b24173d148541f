"""Messages: their items, the needs-work and per-user indexes, and the writes of each move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from chalicelib.adapters.store import cursors, layout
from chalicelib.adapters.store.counters import Protected
from chalicelib.adapters.store.table import (
    EXISTING,
    NEW,
    AtMost,
    Below,
    Condition,
    Cursor,
    Equals,
    Item,
    Missing,
    OneOf,
    Put,
    Query,
    Update,
    every,
    start_after,
)
from chalicelib.domain.lifecycle import Guard, Transition
from chalicelib.domain.records import DELIVERED_STATUSES, Message, MessageStatus
from chalicelib.ports import Table


@dataclass(frozen=True)
class Listing:
    """How much one listing request may read: ``pages`` Queries of ``page_items`` items."""

    pages: int
    page_items: int


class Messages:
    def __init__(self, table: Table, shards: int, listing: Listing) -> None:
        self.table = table
        self.shards = shards
        self.listing = listing

    # Reading ----------------------------------------------------------------------------

    def get(self, message_id: str) -> Message | None:
        item = self.table.get(layout.message_key(message_id), consistent=True)
        return Message.model_validate(item) if item else None

    def list_for_user(
        self,
        app_id: str,
        openid: str,
        status: MessageStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Message], str | None]:
        """Up to ``limit`` of the user's messages, newest first, and the cursor of the rest.

        A status filter drops items after DynamoDB read them: each Query then reads a page of
        ``listing.page_items``, and a request reads ``listing.pages`` at most, answering what it
        found with a cursor where it stopped (fewer than ``limit`` items, perhaps none).
        """
        check = partial(layout.user_messages_start, app_id, openid)
        start = cursors.opened(cursor, check) if cursor else None
        query = Query(
            layout.USER_PK,
            layout.user_messages_partition(app_id, openid),
            sort_key=layout.USER_SK,
            index=layout.USER_INDEX,
            forward=False,
            limit=limit if status is None else self.listing.page_items,
            filter=Equals("status", status.value) if status is not None else None,
        )
        found: list[Message] = []
        for _ in range(self.listing.pages):
            items, start = self.table.query(query, start)
            for item in items:
                found.append(Message.model_validate(item))
                if len(found) == limit:
                    more = item is not items[-1] or start is not None
                    return found, cursors.cursor_out(start_after(item, query)) if more else None
            if start is None:
                break
        return found, cursors.cursor_out(start)

    def due(
        self, shard: int, horizon: datetime, limit: int, start: Cursor | None = None
    ) -> tuple[list[tuple[Message, int]], Cursor | None]:
        """One page of the messages of a shard that need attention before ``horizon``, each
        with the ``work_at`` (epoch ms) the sweep found it at."""
        query = Query(
            layout.WORK_PK,
            layout.work_shard(shard),
            sort_key=layout.WORK_AT,
            sort=AtMost(layout.epoch_ms(horizon)),
            index=layout.WORK_INDEX,
            limit=limit,
        )
        items, start = self.table.query(query, start)
        return [(Message.model_validate(i), int(i[layout.WORK_AT])) for i in items], start

    def user_message_keys(self, app_id: str, openid: str) -> list[dict[str, str]]:
        """The keys of a user's messages and of the idempotency records that created them."""
        query = Query(
            layout.USER_PK,
            layout.user_messages_partition(app_id, openid),
            sort_key=layout.USER_SK,
            index=layout.USER_INDEX,
        )
        keys = []
        for item in self.table.query_all(query):
            keys.append({"pk": item["pk"], "sk": item["sk"]})
            if item.get("idempotency_key"):
                key = item["idempotency_key"]
                keys.append(layout.idempotency_key(app_id, Protected.MESSAGE, key))
        return keys

    def get_many(self, message_ids: list[str]) -> list[Message]:
        """The messages found of ``message_ids``, read in batches (not strongly consistent)."""
        keys = [layout.message_key(message_id) for message_id in message_ids]
        return [Message.model_validate(item) for item in self.table.get_many(keys)]

    def find_by_msgid(self, app_id: str, msgid: int) -> str | None:
        item = self.table.get(layout.wechat_msgid_key(app_id, msgid))
        return item["message_id"] if item else None

    # Writing ----------------------------------------------------------------------------

    def item(self, message: Message, work_at: datetime | None) -> Item:
        item = {
            **layout.message_key(message.id),
            **message.model_dump(mode="json", exclude_none=True),
            "send_at_ms": layout.epoch_ms(message.send_at),
            layout.USER_PK: layout.user_messages_partition(message.app_id, message.openid),
            layout.USER_SK: layout.user_messages_sort(message.created_at, message.id),
        }
        if work_at is not None:
            item.update(self._work(message.id, work_at))
        return item

    def create(self, message: Message, work_at: datetime) -> Put:
        return Put(self.item(message, work_at), NEW)

    def _work(self, message_id: str, work_at: datetime) -> dict[str, Any]:
        shard = layout.shard_of(message_id, self.shards)
        return {layout.WORK_PK: layout.work_shard(shard), layout.WORK_AT: layout.epoch_ms(work_at)}

    def moved(self, transition: Transition) -> Update:
        """The conditional update of one move: nothing happens unless every guard holds."""
        found = transition.rule
        sources = tuple(sorted(s.value for s in found.sources))
        set_: dict[str, Any] = {"status": transition.target.value}
        for name, value in transition.changes.items():
            set_[name] = value.isoformat() if isinstance(value, datetime) else value
            if name == "send_at":
                set_["send_at_ms"] = layout.epoch_ms(value)
        remove: tuple[str, ...] = ()
        if transition.work_at is not None:
            set_.update(self._work(transition.message_id, transition.work_at))
        else:
            remove = (layout.WORK_PK, layout.WORK_AT)
        if transition.purge_at is not None:
            set_[layout.TTL_ATTRIBUTE] = transition.purge_at
        return Update(
            layout.message_key(transition.message_id),
            set=set_,
            add={"attempts": 1} if found.attempt else {},
            remove=remove,
            condition=every(OneOf("status", sources), _guard(transition)),
        )

    def first_event(self, message_id: str, moment: str, fields: dict[str, Any]) -> Update:
        """Set a click or conversion only the first time (``moment`` not set yet), and only on a
        card WeChat took."""
        delivered = OneOf("status", tuple(status.value for status in DELIVERED_STATUSES))
        return Update(
            layout.message_key(message_id),
            set=fields,
            condition=every(Missing(moment), EXISTING, delivered),
        )

    def msgid_pointer(self, app_id: str, msgid: int, message_id: str, purge_at: int) -> Put:
        key = layout.wechat_msgid_key(app_id, msgid)
        return Put({**key, "message_id": message_id, layout.TTL_ATTRIBUTE: purge_at})

    def delete_keys(self, keys: list[dict[str, str]]) -> None:
        self.table.delete_many(keys)


def _guard(transition: Transition) -> Condition | None:
    match transition.rule.guard:
        case Guard.CLAIM:
            return Equals("claim_id", transition.claim_id)
        case Guard.WORK_AT:
            return Equals(layout.WORK_AT, transition.work_at_ms)
        case Guard.SEND_AT:
            return Equals("send_at_ms", transition.send_at_ms)
        case Guard.DUE:
            assert transition.due_by is not None  # checked by Transition
            return Below("send_at_ms", layout.epoch_ms(transition.due_by), or_equal=True)
    return None
