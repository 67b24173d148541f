"""TransactWriteItems applied with an undo log.

Replaces moto's ``DynamoDBBackend.transact_write_items``: moto deep-copies every table a
transaction touches, once per item of the transaction, to be able to roll back (a 4-item
transaction costs 28 ms with 100 items stored and 3.5 s with 20 000). Here a transaction keeps an
undo log of the items it touches instead. Conditions, error answers and the reasons of
``TransactionCanceledException`` stay moto's own: the items are walked in moto's order through
moto's operations and checks. Who may run a transaction when (conflicts, tokens) is
``local.aws.conflicts`` and ``local.aws.idempotency``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from local.aws.originals import Patch, replace_with
from local.aws.queries import ItemKey, indexed, remove
from local.aws.updates import cached_filter_expression, update

MAX_TRANSACTION_ITEMS = 100
OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")

Reason = tuple[str | None, str | None, dict[str, Any] | None]


@dataclass
class _UndoLog:
    """The items a transaction touched, as they were before it; ``undo`` puts them back.

    Each entry keeps the stored item and its attribute dict: a Put or a Delete puts another item
    in its place, and an update without moto gives it a new dict, so neither changes what is
    kept. Only before moto updates an item in place is a copy taken (``copy_before``).
    """

    before: dict[tuple[str, ItemKey], tuple[Table, Item | None, Any]] = field(default_factory=dict)

    def remember(self, table: Table, key: ItemKey, current: Item | None) -> None:
        attrs = current.attrs if current is not None else None
        self.before.setdefault((table.name, key), (table, current, attrs))

    def copy_before(self, table: Table, key: ItemKey) -> None:
        _, item, _ = self.before[(table.name, key)]
        kept = copy.deepcopy(item)
        self.before[(table.name, key)] = (table, kept, kept.attrs if kept is not None else None)

    def undo(self) -> None:
        for (_, (hash_key, range_key)), (table, item, attrs) in self.before.items():
            if item is None:
                remove(table, hash_key, range_key)
            else:
                item.attrs = attrs
                if range_key is None:
                    table.items[hash_key] = item
                else:
                    table.items[hash_key][range_key] = item
            indexed(table, hash_key, range_key)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    undo = _UndoLog()
    seen: set[tuple[str, str]] = set()
    reasons: list[Reason] = []
    try:
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            reasons.append(_write_one(self, entry, seen, undo))
    except (MultipleTransactionsException, MockValidationException, TransactWriteSingleOpException):
        undo.undo()
        raise
    if any(code is not None for code, _, _ in reasons):
        undo.undo()
        raise TransactionCanceledException(reasons)


def _write_one(
    backend: DynamoDBBackend,
    entry: dict[str, Any],
    seen: set[tuple[str, str]],
    undo: _UndoLog,
) -> Reason:
    """One operation of a transaction: its cancellation reason, or (None, None, None)."""
    kind, operation = next(iter(entry.items()))
    old_image: dict[str, Any] | None = None
    try:
        if kind not in OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = operation["TableName"]
        key = _operation_key(backend, kind, operation)
        marker = (str(table_name), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = backend.get_item(table_name, key)
        condition = operation.get("ConditionExpression")
        names = operation.get("ExpressionAttributeNames")
        values = operation.get("ExpressionAttributeValues")
        if condition is not None and not cached_filter_expression(condition, names, values).expr(
            current
        ):
            if operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old_image = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=old_image)
        if kind != "ConditionCheck":
            table = backend.get_table(table_name)
            item_key = backend.get_keys_value(table, key)
            undo.remember(table, item_key, current)
            _apply(backend, kind, operation, key, condition, names, values, undo, item_key)
        return (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as failed:
        return ("ConditionalCheckFailed", str(failed.message), old_image)
    except Exception as error:  # moto answers any other error as that item's reason
        return (type(error).__name__, str(error), old_image)


def _operation_key(backend: DynamoDBBackend, kind: str, operation: dict[str, Any]) -> Any:
    if kind != "Put":
        return operation["Key"]
    table = backend.get_table(operation["TableName"])
    attributes = operation["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _apply(
    backend: DynamoDBBackend,
    kind: str,
    operation: dict[str, Any],
    key: dict[str, Any],
    condition: str | None,
    names: dict[str, str] | None,
    values: dict[str, Any] | None,
    undo: _UndoLog,
    item_key: ItemKey,
) -> None:
    table_name = operation["TableName"]
    expression = {
        "condition_expression": condition,
        "expression_attribute_names": names,
        "expression_attribute_values": values,
    }
    if kind == "Put":
        backend.put_item(table_name, operation["Item"], **expression)
    elif kind == "Delete":
        backend.delete_item(table_name, key, **expression)
    else:
        request = {"key": key, "update_expression": operation["UpdateExpression"], **expression}
        table = backend.get_table(table_name)
        update(backend, table_name, (), request, lambda: undo.copy_before(table, item_key))


PATCHES = (Patch(DynamoDBBackend, "transact_write_items", replace_with(transact_write_items)),)
