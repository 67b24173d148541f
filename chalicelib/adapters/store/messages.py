"""Messages and their conditional state transitions (SPEC §4)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.dynamo import Dynamo, Item, Update
from chalicelib.domain.records import Message, MessageStatus

S = MessageStatus
_STATUS = {"#status": "status"}


def _cursor_out(start: dict[str, Any] | None) -> str | None:
    if start is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(start).encode()).decode()


def cursor_in(cursor: str) -> dict[str, Any]:
    """Decode a listing cursor; ValueError when it is not one of ours."""
    start = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    if not isinstance(start, dict) or not all(isinstance(v, dict) for v in start.values()):
        raise ValueError("not a cursor")
    return start


class Messages:
    def __init__(self, db: Dynamo, shards: int) -> None:
        self.db = db
        self.shards = shards

    # Reading ----------------------------------------------------------------------------

    def get(self, message_id: str) -> Message | None:
        item = self.db.get(layout.message_key(message_id), consistent=True)
        return Message.model_validate(item) if item else None

    def list_for_user(
        self,
        app_id: str,
        openid: str,
        status: MessageStatus | None,
        limit: int,
        cursor: dict[str, Any] | None,
    ) -> tuple[list[Message], str | None]:
        values: dict[str, Any] = {":pk": layout.user_messages_partition(app_id, openid)}
        filter_, names = None, None
        if status is not None:
            filter_, names = "#status = :status", _STATUS
            values[":status"] = status.value
        found: list[Message] = []
        start = cursor
        while len(found) < limit:
            items, start = self.db.query(
                "user_pk = :pk",
                values,
                index=layout.USER_INDEX,
                names=names,
                filter_=filter_,
                limit=limit - len(found),
                forward=False,
                start=start,
            )
            found.extend(Message.model_validate(i) for i in items)
            if start is None:
                break
        return found, _cursor_out(start)

    def due(
        self, shard: int, horizon: datetime, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One page of the messages of a shard that need attention before ``horizon``."""
        return self.db.query(
            "work_pk = :shard AND work_at <= :horizon",
            {":shard": layout.work_shard(shard), ":horizon": layout.epoch_ms(horizon)},
            index=layout.WORK_INDEX,
            limit=limit,
            start=start,
        )

    def user_message_keys(self, app_id: str, openid: str) -> list[dict[str, str]]:
        """The keys of a user's messages and of the idempotency records that created them."""
        keys = []
        for item in self.db.query_all(
            "user_pk = :pk",
            {":pk": layout.user_messages_partition(app_id, openid)},
            index=layout.USER_INDEX,
        ):
            keys.append({"pk": item["pk"], "sk": item["sk"]})
            if item.get("idempotency_key"):
                keys.append(layout.idempotency_key(app_id, item["idempotency_key"]))
        return keys

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

    def create_op(self, message: Message, work_at: datetime) -> dict[str, Any]:
        return self.db.put_op(self.item(message, work_at), condition="attribute_not_exists(pk)")

    def _work(self, message_id: str, work_at: datetime) -> dict[str, Any]:
        shard = layout.shard_of(message_id, self.shards)
        return {layout.WORK_PK: layout.work_shard(shard), layout.WORK_AT: layout.epoch_ms(work_at)}

    def transition(
        self,
        message_id: str,
        *,
        from_: tuple[MessageStatus, ...],
        to: MessageStatus,
        now: datetime,
        work_at: datetime | None = None,
        fields: dict[str, Any] | None = None,
        expect: dict[str, Any] | None = None,
        due_by: datetime | None = None,
        purge_at: int | None = None,
        add_attempt: bool = False,
    ) -> Update:
        """The conditional update moving a message from one of ``from_`` to ``to``.

        ``work_at`` keeps it on the needs-work index (None takes it off); ``expect`` and
        ``due_by`` make the write do nothing unless the message is still the one the caller saw.
        """
        names = dict(_STATUS)
        values: dict[str, Any] = {f":from{i}": s.value for i, s in enumerate(from_)}
        condition = f"#status IN ({', '.join(values)})"
        for i, (attribute, value) in enumerate((expect or {}).items()):
            names[f"#e{i}"] = attribute
            values[f":e{i}"] = value
            condition += f" AND #e{i} = :e{i}"
        if due_by is not None:
            condition += " AND send_at_ms <= :due_by"
            values[":due_by"] = layout.epoch_ms(due_by)
        set_: dict[str, Any] = {"status": to.value, "updated_at": now.isoformat()}
        for name, value in (fields or {}).items():
            set_[name] = value.isoformat() if isinstance(value, datetime) else value
            if name == "send_at":
                set_["send_at_ms"] = layout.epoch_ms(value)
        remove: list[str] = []
        if work_at is not None:
            set_.update(self._work(message_id, work_at))
        else:
            remove += [layout.WORK_PK, layout.WORK_AT]
        if purge_at is not None:
            set_[layout.TTL_ATTRIBUTE] = purge_at
        return Update.build(
            layout.message_key(message_id),
            set_=set_,
            add={"attempts": 1} if add_attempt else None,
            remove=remove,
            condition=condition,
            names=names,
            values=values,
        )

    def apply(self, update: Update) -> Message:
        """Run one transition alone; raises ConditionFailed when the state was not expected."""
        item = self.db.update(update, return_new=True) or {}
        return Message.model_validate(item)

    def first_event(self, message_id: str, moment: str, fields: dict[str, Any]) -> Update:
        """Set a click or conversion only the first time (``moment`` not set yet)."""
        return Update.build(
            layout.message_key(message_id),
            set_=fields,
            condition=f"attribute_not_exists(#m) AND attribute_exists({layout.PK})",
            names={"#m": moment},
        )

    def msgid_pointer_op(
        self, app_id: str, msgid: int, message_id: str, purge_at: int
    ) -> dict[str, Any]:
        key = layout.wechat_msgid_key(app_id, msgid)
        return self.db.put_op({**key, "message_id": message_id, layout.TTL_ATTRIBUTE: purge_at})

    def find_by_msgid(self, app_id: str, msgid: int) -> str | None:
        item = self.db.get(layout.wechat_msgid_key(app_id, msgid))
        return item["message_id"] if item else None

    def delete_keys(self, keys: list[dict[str, str]]) -> None:
        self.db.batch_delete(keys)
