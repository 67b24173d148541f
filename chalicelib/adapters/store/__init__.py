"""Persistence: every DynamoDB access of submsg goes through these repositories."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.store.catalog import Catalog
from chalicelib.adapters.store.counters import CallbackEvents, Counters, IdempotencyRecords
from chalicelib.adapters.store.dynamo import ConditionFailed, Dynamo, TransactionCanceled
from chalicelib.adapters.store.messages import Messages
from chalicelib.adapters.store.users import Users, UserState

__all__ = ["ConditionFailed", "Store", "TransactionCanceled", "UserState"]


@dataclass
class Store:
    db: Dynamo
    catalog: Catalog
    users: Users
    messages: Messages
    counters: Counters
    idempotency: IdempotencyRecords
    events: CallbackEvents

    @classmethod
    def create(cls, db: Dynamo, due_shards: int, expiry_shards: int) -> Store:
        return cls(
            db=db,
            catalog=Catalog(db),
            users=Users(db, expiry_shards),
            messages=Messages(db, due_shards),
            counters=Counters(db),
            idempotency=IdempotencyRecords(db),
            events=CallbackEvents(db),
        )
