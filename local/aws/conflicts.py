"""Who may write an item when: transactions that hold their items, as DynamoDB's do
(docs/local-stack.md#what-the-embedded-aws-does-as-dynamodb-does).

Replaces moto's ``DynamoHandler.call_action`` (every DynamoDB request goes through it) with a gate
around it. moto lets requests interleave anywhere, and has no notion of a transaction in flight.
Here:

- moto's data is guarded by one lock (``engine``): a request reads or writes it alone, so a reader
  sees a transaction's items all before it or all after it.
- A ``TransactWriteItems`` first takes a hold on each item it writes or checks, then releases
  the lock (see ``overlap``), waits ``hold_ms`` (0 unless ``SUBMSG_AWS_FAULTS`` sets it; tests
  can also wait on ``hold_window``), applies under the lock, and lets its holds go. While it
  holds them, another transaction on one of those items is canceled
  (``TransactionCanceledException``, reason ``TransactionConflict`` for that item, ``None`` for
  the others) and a ``PutItem``, ``UpdateItem`` or ``DeleteItem`` on one of them fails with
  ``TransactionConflictException``; neither writes anything. Reads are not held up, as on
  DynamoDB.
- ``ClientRequestToken`` is honoured (``local.aws.idempotency``), and the faults of
  ``local.aws.faults`` are injected here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.responses import DynamoHandler

from local.aws import faults
from local.aws.idempotency import Answer, TokenRefused, fingerprint, tokens
from local.aws.originals import Patch

engine = threading.RLock()
PREFIX = "com.amazonaws.dynamodb.v20120810#"
SINGLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
TRANSACTION = "TransactWriteItems"
# The requests a table's throughput limits (throttled by the ``throttle`` fault).
ITEM_REQUESTS = frozenset(
    {
        *SINGLE_WRITES,
        TRANSACTION,
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
    }
)
HeldKey = tuple[str, str]  # (table, the item's key as canonical JSON)

_held: dict[HeldKey, int] = {}  # item -> the transaction holding it
_next_transaction = iter(range(1, 1 << 62))

# Whether a transaction lets go of the engine between taking its holds and applying, so that
# requests served at once can meet its holds: on in the endpoint's server (``local.aws.server``);
# in a test's own process, on while a test sets it, sets ``hold_window`` or ``hold_ms``.
overlap = False

# Called with the transaction's held keys after it took its holds and before it applies, the
# engine lock released: a test makes the window as wide as it needs (an Event it waits on).
hold_window: Callable[[list[HeldKey]], None] | None = None


def error(code: str, message: str, status: int = 400) -> Answer:
    """An error answer as DynamoDB's JSON protocol writes it."""
    body = json.dumps({"__type": PREFIX + code, "message": message})
    return status, _headers(status), body


def _headers(status: int) -> dict[str, Any]:
    return {
        "status": str(status),
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }


def _canceled(reasons: list[Reason]) -> Answer:
    exception = TransactionCanceledException(reasons)
    return 400, _headers(400), exception.description


Reason = tuple[str | None, str | None, None]


def conflict_reasons(count: int, conflicting: set[int]) -> list[Reason]:
    message = "Transaction is ongoing for the item"
    return [
        ("TransactionConflict", message, None) if at in conflicting else (None, None, None)
        for at in range(count)
    ]


def _item_key(backend: Any, table_name: str, attributes: dict[str, Any]) -> HeldKey | None:
    try:
        table = backend.get_table(table_name)
    except Exception:  # no such table: moto answers it
        return None
    names = [table.hash_key_attr, table.range_key_attr]
    key = {name: attributes.get(name) for name in names if name is not None}
    return table_name, json.dumps(key, sort_keys=True)


def request_key(backend: Any, request: dict[str, Any]) -> HeldKey | None:
    """The item a single-item request (or an entry of a transaction) names."""
    attributes = request.get("Key") or request.get("Item") or {}
    return _item_key(backend, str(request.get("TableName", "")), attributes)


def transaction_keys(backend: Any, params: dict[str, Any]) -> list[HeldKey | None]:
    keys = []
    for entry in params.get("TransactItems") or []:
        operation = next(iter(entry.values()), {}) if isinstance(entry, dict) else {}
        keys.append(request_key(backend, operation) if isinstance(operation, dict) else None)
    return keys


def gate(moto_call_action: Callable[[DynamoHandler], Answer]) -> Callable[[DynamoHandler], Any]:
    def call_action(self: DynamoHandler) -> Any:
        action = self._get_action()
        injector = faults.active()
        if action in ITEM_REQUESTS and injector.draw("throttle"):
            return error(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            )
        if action == TRANSACTION:
            return _transaction(self, moto_call_action, injector)
        if action in SINGLE_WRITES:
            return _single_write(self, moto_call_action, injector)
        with engine:
            return moto_call_action(self)

    return call_action


def _single_write(
    handler: DynamoHandler, moto_call_action: Callable[[DynamoHandler], Answer], injector: Any
) -> Answer:
    conflict = error(
        "TransactionConflictException",
        "Transaction is ongoing for the item",
    )
    if injector.draw("conflict"):
        return conflict
    with engine:
        key = request_key(handler.dynamodb_backend, getattr(handler, "params", {}))
        if key is not None and key in _held:
            return conflict
        return moto_call_action(handler)


def _transaction(
    handler: DynamoHandler, moto_call_action: Callable[[DynamoHandler], Answer], injector: Any
) -> Answer:
    params = getattr(handler, "params", {})
    token = params.get("ClientRequestToken")
    request = fingerprint(params)
    with engine:
        try:
            first = tokens.begin(token, request)
        except TokenRefused as refused:
            return error(refused.code, str(refused))
        if first is not None:
            return first
        keys = transaction_keys(handler.dynamodb_backend, params)
        conflicting = {at for at, key in enumerate(keys) if key is not None and key in _held}
        if not conflicting and keys and injector.draw("conflict"):
            conflicting = {injector.choice(len(keys))}
        if conflicting:
            tokens.canceled(token)
            return _canceled(conflict_reasons(len(keys), conflicting))
        mine = next(_next_transaction)
        held = [key for key in dict.fromkeys(keys) if key is not None]
        for key in held:
            _held[key] = mine
        if not overlapping(injector):
            return _apply(handler, moto_call_action, injector, held, mine, token)
    _wait_holding(held, injector)
    return _apply(handler, moto_call_action, injector, held, mine, token)


def overlapping(injector: Any) -> bool:
    """Whether transactions let go of the engine while they hold their items (so that others
    can meet their holds), or take and release their holds in one step."""
    return overlap or hold_window is not None or bool(injector.faults.hold_ms)


def _apply(
    handler: DynamoHandler,
    moto_call_action: Callable[[DynamoHandler], Answer],
    injector: Any,
    held: list[HeldKey],
    mine: int,
    token: str | None,
) -> Answer:
    answer: Answer | None = None
    try:
        with engine:
            answer = moto_call_action(handler)
    finally:
        with engine:
            for key in held:
                if _held.get(key) == mine:
                    del _held[key]
            if answer is not None and int(answer[0]) == 200:
                tokens.done(token, answer)
            else:
                tokens.canceled(token)
    if int(answer[0]) == 200 and injector.draw("lost"):
        return error("InternalServerError", "Internal server error", status=500)
    return answer


def _wait_holding(held: list[HeldKey], injector: Any) -> None:
    if hold_window is not None:
        hold_window(held)
    if injector.faults.hold_ms:
        time.sleep(injector.faults.hold_ms / 1000)


def holding() -> list[HeldKey]:
    """The items held by transactions in flight now."""
    with engine:
        return list(_held)


PATCHES = (Patch(DynamoHandler, "call_action", gate),)
