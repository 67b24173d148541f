"""moto made to behave like AWS at scale, for the local stack and the tests.

moto 5.2.5 has habits that real DynamoDB and SQS do not:
- ``TransactWriteItems`` deep-copies every table it touches, once per item of the transaction, to
  be able to roll back; a 4-item transaction costs 28 ms with 100 items stored and 3.5 s with
  20 000. Here a transaction keeps an undo log of the items it touches instead.
- A ``Query`` walks every item of the table, even for one partition. Here a Query on the table
  reads its partition, and a Query on a global secondary index reads, of the items that carry
  its hash key, those its sort key condition allows (an index kept in sort key order as items
  are written): a sweep for what is due now reads what is due, not everything due next month.
- Nothing stops two requests from interleaving inside a transaction. Here every DynamoDB request
  runs alone, as DynamoDB's transactions are isolated.
- Its server lists moto's own folder on disk for every request it dispatches, and the methods
  of a handler's class for every request it answers. Here once each.
- Building an item re-measures the whole item for every attribute added (a check of the 400 KB
  limit that is quadratic in the attributes); the validation of a transaction parses each update
  expression again on every request. Here an item is measured once, and an expression parsed
  once per distinct text.
- SQS reads the clock through ``datetime`` arithmetic several times per message held, and looks
  up the queue's retention period by computing every queue attribute (three counts over all
  messages) once per message received: a receive from a queue of 2 000 messages costs tens of
  milliseconds. Here the clock is read as ``time.time()`` (the same instant) and the retention
  period is read as it is stored. A send computes every attribute of its queue to read one (is
  content-based deduplication on?); here it reads that one. A batch delete walks the queue twice
  per receipt handle; here once per batch.

Conditions, error answers and the reasons of ``TransactionCanceledException`` stay moto's own:
the transaction below walks the items in moto's order and calls moto's operations and checks.
``install`` refuses any moto version other than the one this was written for.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import moto
from moto import backends as moto_backends
from moto.core import responses as moto_core_responses
from moto.core.parse import BaseJSONParser
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import camelcase_to_underscores
from moto.dynamodb import models as moto_models
from moto.dynamodb import responses as moto_responses
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    ItemSizeTooLarge,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type as moto_dynamo_type
from moto.dynamodb.models import table as moto_table_module
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs import models as sqs_models
from moto.sqs.models import Message as SqsMessage
from moto.sqs.models import Queue as SqsQueue
from moto.sqs.models import SQSBackend

SUPPORTED_MOTO = "5.2.5"
MAX_TRANSACTION_ITEMS = 100
MAX_ITEM_BYTES = 405_000  # moto's own figure for DynamoDB's 400 KB item limit
OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")

ItemKey = tuple[DynamoType, DynamoType | None]
Reason = tuple[str | None, str | None, dict[str, Any] | None]


class UnsupportedMoto(RuntimeError):
    """The installed moto is not the version whose internals this module relies on."""


# Isolation ------------------------------------------------------------------------------------

_one_at_a_time = threading.RLock()


def _call_action_alone(original: Callable[[DynamoHandler], Any]) -> Callable[..., Any]:
    def call_action(self: DynamoHandler) -> Any:
        with _one_at_a_time:
            return original(self)

    return call_action


# Transactions with an undo log ------------------------------------------------------------------


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
                _remove(table, hash_key, range_key)
            else:
                item.attrs = attrs
                if range_key is None:
                    table.items[hash_key] = item
                else:
                    table.items[hash_key][range_key] = item
            _indexed(table, hash_key, range_key)


def _remove(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
    if range_key is None:
        table.items.pop(hash_key, None)
    elif hash_key in table.items:
        table.items[hash_key].pop(range_key, None)
        if not table.items[hash_key]:
            del table.items[hash_key]


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
        update = {"key": key, "update_expression": operation["UpdateExpression"], **expression}
        table = backend.get_table(table_name)
        _update(backend, table_name, (), update, lambda: undo.copy_before(table, item_key))


# Queries that read what they ask for ------------------------------------------------------------

# Table.query reads Table.all_items(); while one runs, all_items answers its candidates only.
_candidates: contextvars.ContextVar[tuple[Table, list[Item]] | None] = contextvars.ContextVar(
    "candidates", default=None
)


Order = tuple[str, Any]  # a sort key value as Python orders it: ("N", Decimal) or ("S", str)
Window = tuple[str, list[DynamoType]]  # a Query's condition on the index's sort key


def _order(value: DynamoType | None) -> Order | None:
    """How DynamoDB orders a sort key value (numbers by value, strings by code point, which is
    their UTF-8 byte order), or None for a value kept out of the order (absent, or binary)."""
    if value is None:
        return None
    if value.type == "S":
        return ("S", value.value)
    if value.type == "N":
        with contextlib.suppress(ArithmeticError, TypeError, ValueError):
            return ("N", Decimal(value.value))
    return None


def _first(entry: tuple[Order, ItemKey]) -> Order:
    return entry[0]


@dataclass
class _Bucket:
    """The keys of the items that carry one value of an index's hash attribute: in the order of
    the index's sort attribute, and apart those that have no orderable sort value."""

    ordered: list[tuple[Order, ItemKey]] = field(default_factory=list)
    unordered: dict[ItemKey, None] = field(default_factory=dict)
    placed: dict[ItemKey, Order | None] = field(default_factory=dict)

    def place(self, key: ItemKey, order: Order | None) -> None:
        if key in self.placed:
            if self.placed[key] == order:
                return
            self.discard(key)
        self.placed[key] = order
        if order is None:
            self.unordered[key] = None
        else:
            bisect.insort(self.ordered, (order, key), key=_first)

    def discard(self, key: ItemKey) -> None:
        order = self.placed.pop(key)
        if order is None:
            del self.unordered[key]
            return
        at = bisect.bisect_left(self.ordered, order, key=_first)
        while self.ordered[at][1] != key:
            at += 1
        del self.ordered[at]


_COMPARISONS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}  # moto's spellings


def _bounds(ordered: list[tuple[Order, ItemKey]], window: Window | None) -> tuple[int, int]:
    """The slice of ``ordered`` that holds every key that can meet ``window``."""
    everything = (0, len(ordered))
    if window is None:
        return everything
    comparison, values = window
    orders = [_order(value) for value in values]
    if not orders or None in orders:
        return everything
    low = bisect.bisect_left(ordered, orders[0], key=_first)
    high = bisect.bisect_right(ordered, orders[-1], key=_first)
    match _COMPARISONS.get(comparison, comparison.upper()):
        case "EQ" | "BETWEEN":
            return low, high
        case "LT":
            return 0, low
        case "LE":
            return 0, high
        case "GT":
            return high, len(ordered)
        case "GE":
            return low, len(ordered)
        case "BEGINS_WITH":
            return low, _end_of_prefix(ordered, orders[0], low)
    return everything


def _end_of_prefix(ordered: list[tuple[Order, ItemKey]], prefix: Order | None, at: int) -> int:
    if prefix is None or prefix[0] != "S":
        return len(ordered)
    while (
        at < len(ordered) and ordered[at][0][0] == "S" and ordered[at][0][1].startswith(prefix[1])
    ):
        at += 1
    return at


class _IndexBuckets:
    """For each global secondary index with one hash attribute: hash value -> a ``_Bucket``.

    Keys are placed whenever an item is written; a key whose item no longer carries that value
    or that sort value (deleted, or moved) is dropped when a read comes across it.
    """

    def __init__(self, table: Table) -> None:
        self.attributes: dict[str, str] = {}
        self.sort_attributes: dict[str, str | None] = {}
        for index in table.global_indexes:
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hashes) == 1 and len(ranges) <= 1:
                self.attributes[index.name] = hashes[0]
                self.sort_attributes[index.name] = ranges[0] if ranges else None
        self.buckets: dict[str, dict[DynamoType, _Bucket]] = {name: {} for name in self.attributes}
        for item in _original["all_items"](table):
            self.add(item)

    def add(self, item: Item) -> None:
        key = (item.hash_key, item.range_key)
        for name, attribute in self.attributes.items():
            value = item.attrs.get(attribute)
            if value is not None:
                bucket = self.buckets[name].setdefault(value, _Bucket())
                bucket.place(key, self._order_in(name, item))

    def _order_in(self, index_name: str, item: Item) -> Order | None:
        sort_attribute = self.sort_attributes[index_name]
        return _order(item.attrs.get(sort_attribute)) if sort_attribute else None

    def read(
        self, table: Table, index_name: str, value: DynamoType, window: Window | None
    ) -> list[Item]:
        bucket = self.buckets[index_name].get(value)
        if bucket is None:
            return []
        attribute = self.attributes[index_name]
        stale: list[ItemKey] = []

        def current(key: ItemKey, order: Order | None) -> Item | None:
            item = _stored(table, *key)
            found = item.attrs.get(attribute) if item is not None else None
            if found is not None and found == value and self._order_in(index_name, item) == order:
                return item
            stale.append(key)
            return None

        def nearest(side: range) -> list[Item]:
            for at in side:
                order, key = bucket.ordered[at]
                if (item := current(key, order)) is not None:
                    return [item]
            return []

        low, high = _bounds(bucket.ordered, window)
        found = [item for order, key in bucket.ordered[low:high] if (item := current(key, order))]
        found += [item for key in list(bucket.unordered) if (item := current(key, None))]
        # moto's Query walks the whole bucket, so a page that reaches its limit ends with a
        # LastEvaluatedKey whenever any item lies beyond its last match: keep one on each side.
        found += nearest(range(low - 1, -1, -1)) + nearest(range(high, len(bucket.ordered)))
        for key in stale:
            bucket.discard(key)
        return found


def _buckets(table: Table) -> _IndexBuckets:
    found = table.__dict__.get("_embedded_buckets")
    if found is None:
        found = table.__dict__["_embedded_buckets"] = _IndexBuckets(table)
    return found


def _stored(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    if range_key is None:
        found = table.items.get(hash_key)
        return found if isinstance(found, Item) else None
    return table.items.get(hash_key, {}).get(range_key)


def _indexed(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
    """Keep the index buckets of ``table`` (once built) up to date with one written item."""
    buckets = table.__dict__.get("_embedded_buckets")
    item = _stored(table, hash_key, range_key)
    if buckets is not None and item is not None:
        buckets.add(item)


def _query_candidates(
    table: Table,
    hash_key: DynamoType | None,
    index_name: str | None,
    kwargs: dict[str, Any],
) -> list[Item] | None:
    """The items a Query can match, or None when only a walk of the whole table can tell."""
    if index_name is None:
        if hash_key is None:
            return None
        if table.range_key_attr is None:
            found = _stored(table, hash_key, None)
            return [found] if found is not None else []
        return list(table.items.get(hash_key, {}).values())
    buckets = _buckets(table)
    attribute = buckets.attributes.get(index_name)
    values = [value for name, value in kwargs.get("hash_key_conditions") or [] if name == attribute]
    if attribute is None or len(values) != 1:
        return None
    conditions = kwargs.get("range_key_conditions") or []
    window: Window | None = None
    if len(conditions) == 1 and conditions[0][0] == buckets.sort_attributes[index_name]:
        _, comparison, operands = conditions[0]
        window = (comparison, list(operands))
    return buckets.read(table, index_name, values[0], window)


def query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    found = _query_candidates(self, hash_key, index_name, kwargs)
    if found is None:
        return _original["query"](self, hash_key, *args, **kwargs)
    token = _candidates.set((self, found))
    try:
        return _original["query"](self, hash_key, *args, **kwargs)
    finally:
        _candidates.reset(token)


def all_items(self: Table) -> list[Item]:
    narrowed = _candidates.get()
    if narrowed is not None and narrowed[0] is self:
        return list(narrowed[1])
    return _original["all_items"](self)


def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
    item = _original["put_item"](self, *args, **kwargs)
    _indexed(self, item.hash_key, item.range_key)
    return item


def update_item(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Item:
    return _update(self, table_name, args, kwargs)


def _update(
    backend: DynamoDBBackend,
    table_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    before_moto: Callable[[], None] | None = None,
) -> Item:
    """The update without moto when it is plain, else moto's (``before_moto`` runs first)."""
    table = backend.get_table(table_name)
    item = _simple_update(backend, table, *args, **kwargs)
    if item is None:
        if before_moto is not None:
            before_moto()
        item = _original["update_item"](backend, table_name, *args, **kwargs)
    _indexed(table, item.hash_key, item.range_key)
    return item


# Conditions parsed once --------------------------------------------------------------------

_PARSED_LIMIT = 4096
# (expression, names, values) -> (moto's parsed condition, the names and values it used)
_parsed: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}


class ParsedCondition:
    """Stands in for moto's ConditionExpressionParser: parses once per distinct request (the
    same expression, names and values), however often moto asks (a transaction's condition is
    parsed three times: to validate the request, to check it, and by the write itself). No
    expression is parsed at once: that costs less than the key of the cache."""

    def __init__(
        self, expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None
    ) -> None:
        self._request = (expression, names, values)
        self._key = expression and (
            expression,
            json.dumps(names, sort_keys=True),
            json.dumps(values, sort_keys=True, default=repr),  # repr: binary values
        )

    def parse(self) -> Any:
        found = _parsed.get(self._key) if self._key else None
        if found is None:
            parser = _original["create_condition_expression_parser"](*self._request)
            found = (parser.parse(), parser.expr_attr_names_found, parser.expr_attr_values_found)
            if self._key:
                if len(_parsed) >= _PARSED_LIMIT:
                    _parsed.clear()
                _parsed[self._key] = found
        self.expr_attr_names_found, self.expr_attr_values_found = found[1], found[2]
        return found[0]


def cached_filter_expression(
    expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None
) -> Any:
    return ParsedCondition(expression, names, values).parse()


# Simple updates without moto's expression machinery ---------------------------------------------

# moto parses, validates and executes an update expression through a dozen tree walks (about
# 3 ms for a four-clause SET); the expressions submsg writes are plain placeholders, applied here
# directly. Anything else (paths, functions, a key or index key of another type, sets, streams)
# goes to moto, which stays the reference: the tests compare both on the same requests.
_CLAUSE = re.compile(r"\s*(SET|ADD|REMOVE)\s+", re.IGNORECASE)
_SET = re.compile(r"^(#\w+)\s*=\s*(:\w+)$")
_ADD = re.compile(r"^(#\w+)\s+(:\w+)$")
_REMOVE = re.compile(r"^(#\w+)$")


@dataclass(frozen=True)
class _Plan:
    set: dict[str, dict[str, Any]]
    add: dict[str, dict[str, Any]]
    remove: tuple[str, ...]


def _plan(
    expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None
) -> _Plan | None:
    """The clauses of a plain SET/ADD/REMOVE expression, or None for anything else."""
    names, values = names or {}, values or {}
    parts = _CLAUSE.split(expression or "")
    if len(parts) < 3 or parts[0].strip() or len(parts) % 2 == 0:
        return None
    clauses = {parts[i].upper(): parts[i + 1] for i in range(1, len(parts), 2)}
    if len(clauses) != (len(parts) - 1) // 2:
        return None  # a clause twice
    found: dict[str, dict[str, Any]] = {"SET": {}, "ADD": {}, "REMOVE": {}}
    for clause, pattern in (("SET", _SET), ("ADD", _ADD), ("REMOVE", _REMOVE)):
        for action in filter(None, (a.strip() for a in clauses.get(clause, "").split(","))):
            matched = pattern.match(action)
            if matched is None or matched.group(1) not in names:
                return None
            attribute = names[matched.group(1)]
            value = values.get(matched.group(2)) if clause != "REMOVE" else {}
            if value is None or any(attribute in f for f in found.values()):
                return None
            found[clause][attribute] = value
    return _Plan(found["SET"], found["ADD"], tuple(found["REMOVE"]))


def _plain_value(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in {"S", "N", "BOOL", "NULL", "M", "L", "B"}


def _simple_update(
    backend: DynamoDBBackend,
    table: Table,
    key: dict[str, Any],
    update_expression: str,
    expression_attribute_names: dict[str, str],
    expression_attribute_values: dict[str, Any],
    attribute_updates: Any = None,
    expected: Any = None,
    condition_expression: str | None = None,
    return_values_on_condition_check_failure: str | None = None,
) -> Item | None:
    """The update applied as moto would apply it, or None when moto must do it."""
    if attribute_updates or expected or table.stream_shard is not None:
        return None
    plan = _plan(update_expression, expression_attribute_names, expression_attribute_values)
    if plan is None or not all(_plain_value(v) for v in [*plan.set.values(), *plan.add.values()]):
        return None
    keys = {table.hash_key_attr, table.range_key_attr}
    typed = {d["AttributeName"]: d["AttributeType"] for d in table.attr}
    touched = [*plan.set, *plan.add, *plan.remove]
    if keys.intersection(touched):
        return None
    for attribute, value in plan.set.items():
        if attribute in typed and (next(iter(value)) != typed[attribute] or "" in value.values()):
            return None
    if any(next(iter(v)) != "N" for v in plan.add.values()):
        return None
    hash_key, range_key = backend.get_keys_value(table, key)
    item = table.get_item(hash_key, range_key)
    for attribute in plan.add:
        current = item.attrs.get(attribute) if item is not None else None
        if current is not None and not current.is_number():
            return None
    condition = cached_filter_expression(
        condition_expression, expression_attribute_names, expression_attribute_values
    )
    if not condition.expr(item):
        old = item.to_json()["Attributes"] if item is not None else None
        if return_values_on_condition_check_failure == "ALL_OLD" and old is not None:
            raise ConditionalCheckFailed(item=old)
        raise ConditionalCheckFailed
    if item is None:
        data = {table.hash_key_attr: key[table.hash_key_attr]}
        if table.range_key_attr is not None:
            data[table.range_key_attr] = key[table.range_key_attr]
        table.put_item(data)
        item = table.get_item(hash_key, range_key)
    attrs = _Measured(item.attrs)
    for attribute, value in plan.set.items():
        attrs.put(attribute, DynamoType(value))
    for attribute, value in plan.add.items():
        attrs.put(attribute, attrs.get(attribute, DynamoType({"N": "0"})) + DynamoType(value))
    for attribute in plan.remove:
        attrs.pop(attribute)
    item.attrs = attrs.done()  # a new dict: what a transaction keeps to undo stays as it was
    return item


class _Measured:
    """A copy of an item's attributes, changed with moto's size check (each attribute put is
    refused when the item, the attribute's old value still counted, would pass the limit),
    the size kept as a running total instead of summed again on every put."""

    def __init__(self, attrs: dict[str, DynamoType]) -> None:
        self._attrs = dict(attrs)
        self._size = sum(_attribute_size(name, value) for name, value in attrs.items())

    def get(self, name: str, default: DynamoType) -> DynamoType:
        return self._attrs.get(name, default)

    def put(self, name: str, value: DynamoType) -> None:
        added = _attribute_size(name, value)
        if self._size + added > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        old = self._attrs.get(name)
        self._size += added - (_attribute_size(name, old) if old is not None else 0)
        self._attrs[name] = value

    def pop(self, name: str) -> None:
        old = self._attrs.pop(name, None)
        if old is not None:
            self._size -= _attribute_size(name, old)

    def done(self) -> Any:
        attrs = moto_dynamo_type.LimitedSizeDict()
        dict.update(attrs, self._attrs)
        return attrs


def _attribute_size(name: str, value: DynamoType) -> int:
    return moto_dynamo_type.bytesize(name) + value.size()


# Items measured once, expressions and method names looked up once -------------------------------


def item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: Any) -> None:
    """moto's ``Item.__init__``: the same attributes and the same ItemSizeTooLarge, the size
    summed once rather than once per attribute added."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = moto_dynamo_type.LimitedSizeDict()
    size = 0
    for name, value in attrs.items():
        typed = DynamoType(value)
        size += _attribute_size(name, typed)
        if size > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, name, typed)


class UpdateExpressionsParsedOnce:
    """Stands in for ``UpdateExpressionParser`` where moto's request handler only reads the tree
    (to check the names a transaction's updates use); the writes still parse their own."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self._trees: dict[str, Any] = {}

    def make(self, expression: str) -> Any:
        tree = self._trees.get(expression)
        if tree is None:
            tree = self._parser.make(expression)
            if len(self._trees) >= _PARSED_LIMIT:
                self._trees.clear()
            self._trees[expression] = tree
        return tree


def parse_structure(self: BaseJSONParser, shape: Any, value: Any) -> Any:
    """moto's JSON structure parser; a value of one member (as every attribute value of
    DynamoDB is) is parsed as that member alone, which gives the same result."""
    if type(value) is dict and len(value) == 1 and not shape.is_document_type:
        ((name, inner),) = value.items()
        if name in _wire_names(shape):
            parsed = self.MAP_TYPE()
            if inner is not None:
                parsed[name] = self._parse_shape(shape.members[name], inner)
            return parsed
    return _original["_parse_structure"](self, shape, value)


_wire_names_of: dict[int, tuple[Any, frozenset[str]]] = {}


def _wire_names(shape: Any) -> frozenset[str]:
    """The members of ``shape`` sent under their own name, and no other member under it."""
    found = _wire_names_of.get(id(shape))
    if found is None or found[0] is not shape:
        wire = {
            name: member.serialization.get("name", name) for name, member in shape.members.items()
        }
        names = list(wire.values())
        own = frozenset(n for n, w in wire.items() if w == n and names.count(n) == 1)
        found = _wire_names_of[id(shape)] = (shape, own)
    return found[1]


def serialize_type_structure(
    self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str
) -> None:
    if key and shape.name == "AttributeValue" and _is_dynamodb(self):
        plain = _plain_attribute_value(value)
        if plain is not None:
            self._default_serialize(serialized, plain, shape, key)
            return
    _original["_serialize_type_structure"](self, serialized, value, shape, key)


def _is_dynamodb(serializer: BaseJSONSerializer) -> bool:
    return bool(serializer.operation_model.service_model.service_name == "dynamodb")


_PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool}


def _plain_attribute_value(value: Any) -> dict[str, Any] | None:
    """``value`` as moto's serializer would write it, when it is plain; else None."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if kind in _PLAIN_SCALARS:
        return {kind: inner} if type(inner) is _PLAIN_SCALARS[kind] else None
    if kind == "NULL":
        return {kind: True} if inner is True else None
    if kind in ("SS", "NS"):
        plain = type(inner) is list and all(type(member) is str for member in inner)
        return {kind: list(inner)} if plain else None
    if kind == "L" and type(inner) is list:
        members = [_plain_attribute_value(member) for member in inner]
        return {kind: members} if all(m is not None for m in members) else None
    if kind == "M" and type(inner) is dict:
        entries = {name: _plain_attribute_value(member) for name, member in inner.items()}
        return {kind: entries} if all(e is not None for e in entries.values()) else None
    return None


_method_names: dict[type, list[str]] = {}


def method_names_from_class(owner: type) -> list[str]:
    found = _method_names.get(owner)
    if found is None:
        found = _method_names[owner] = _original["method_names_from_class"](owner)
    return found


# SQS that reads the clock cheaply -------------------------------------------------------------


def unix_time(moment: Any = None) -> float:
    """moto's ``unix_time``: seconds since the epoch, of ``moment`` (naive UTC) or of now."""
    return _original["unix_time"](moment) if moment is not None else time.time()


def unix_time_millis(moment: Any = None) -> float:
    return unix_time(moment) * 1000.0


def is_message_valid_based_on_retention_period(
    self: SQSBackend, queue_name: str, message: SqsMessage
) -> bool:
    retention_s = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_s + message.sent_timestamp / 1000 > time.time())


_sending: contextvars.ContextVar[bool] = contextvars.ContextVar("sending", default=False)


def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> SqsMessage:
    token = _sending.set(True)
    try:
        return _original["send_message"](self, *args, **kwargs)
    finally:
        _sending.reset(token)


def queue_attributes(self: SqsQueue) -> dict[str, Any]:
    """moto's ``Queue.attributes``; while a message is sent, only the one the send reads."""
    if not _sending.get():
        return _original["attributes"].fget(self)  # type: ignore[no-any-return]
    if not self.fifo_queue:
        return {}  # moto lists ContentBasedDeduplication for FIFO queues only
    value = getattr(self, camelcase_to_underscores("ContentBasedDeduplication"))
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def delete_message_batch(
    self: SQSBackend, queue_name: str, receipts: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, str]]]:
    """moto's batch delete in one walk of the queue; a handle no message ever had is answered
    by moto's own delete (its error)."""
    queue = self.get_queue(queue_name)
    wanted = {receipt["ReceiptHandle"] for receipt in receipts} - queue.deleted_messages
    if wanted:
        kept = []
        for message in queue._messages:
            handles = message.all_receipt_handles
            if wanted.isdisjoint(handles):
                kept.append(message)
            else:
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(handles)
        queue._messages = kept
    success: list[str] = []
    errors: list[dict[str, str]] = []
    for receipt in receipts:
        if receipt["ReceiptHandle"] in queue.deleted_messages:
            success.append(receipt["Id"])
        else:
            done, failed = _original["delete_message_batch"](self, queue_name, [receipt])
            success += done
            errors += failed
    return success, errors


# The server's dispatch ----------------------------------------------------------------------

_MOTO_MODULES: tuple[str, ...] = ()


def list_of_moto_modules() -> tuple[str, ...]:
    """moto's service folders, listed once (moto's server lists its folder for every request)."""
    global _MOTO_MODULES
    if not _MOTO_MODULES:
        _MOTO_MODULES = tuple(_original["list_of_moto_modules"]())
    return _MOTO_MODULES


# Installing ----------------------------------------------------------------------------------

_original: dict[str, Any] = {}  # moto's own functions, by name, for the patches to call
_replaced: dict[tuple[int, str], Any] = {}  # what each patch replaced, to put back
_PATCHES: tuple[tuple[Any, str, Callable[[Callable[..., Any]], Any]], ...] = (
    (DynamoHandler, "call_action", _call_action_alone),
    (DynamoDBBackend, "transact_write_items", lambda _: transact_write_items),
    (DynamoDBBackend, "update_item", lambda _: update_item),
    (Table, "query", lambda _: query),
    (Table, "all_items", lambda _: all_items),
    (Table, "put_item", lambda _: put_item),
    (moto_models, "get_filter_expression", lambda _: cached_filter_expression),
    (moto_table_module, "get_filter_expression", lambda _: cached_filter_expression),
    (moto_models, "create_condition_expression_parser", lambda _: ParsedCondition),
    (moto_responses, "create_condition_expression_parser", lambda _: ParsedCondition),
    (moto_backends, "list_of_moto_modules", lambda _: list_of_moto_modules),
    (moto_core_responses, "method_names_from_class", lambda _: method_names_from_class),
    (Item, "__init__", lambda _: item_init),
    (moto_responses, "UpdateExpressionParser", UpdateExpressionsParsedOnce),
    (BaseJSONParser, "_parse_structure", lambda _: parse_structure),
    (BaseJSONSerializer, "_serialize_type_structure", lambda _: serialize_type_structure),
    (sqs_models, "unix_time", lambda _: unix_time),
    (sqs_models, "unix_time_millis", lambda _: unix_time_millis),
    (SQSBackend, "send_message", lambda _: send_message),
    (SQSBackend, "delete_message_batch", lambda _: delete_message_batch),
    (SqsQueue, "attributes", lambda _: property(queue_attributes)),
    (
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        lambda _: is_message_valid_based_on_retention_period,
    ),
)


def install() -> None:
    """Patch moto in this process (idempotent); UnsupportedMoto for another moto version."""
    if moto.__version__ != SUPPORTED_MOTO:
        raise UnsupportedMoto(
            f"local/embedded_aws.py was written for moto {SUPPORTED_MOTO}, found "
            f"{moto.__version__}: check what this module patches (_PATCHES) against that moto, "
            "then update SUPPORTED_MOTO and the pin in requirements-dev.in"
        )
    if _replaced:
        return
    for owner, name, make in _PATCHES:
        original = getattr(owner, name)
        _replaced[(id(owner), name)] = original
        _original.setdefault(name, original)
        setattr(owner, name, make(original))


def uninstall() -> None:
    """Give moto back its own behaviour (the tests compare the two)."""
    for owner, name, _ in _PATCHES:
        if (id(owner), name) in _replaced:
            setattr(owner, name, _replaced.pop((id(owner), name)))
    _original.clear()
    _parsed.clear()
    _method_names.clear()


def installed() -> bool:
    return bool(_replaced)


@contextlib.contextmanager
def plain_moto() -> Iterator[None]:
    """Unpatched moto for the duration (restores the patches afterwards if they were on)."""
    was_installed = installed()
    uninstall()
    try:
        yield
    finally:
        if was_installed:
            install()
