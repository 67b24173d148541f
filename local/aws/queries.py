"""Queries that read what they ask for, and the indexes that let them.

moto's ``Table.query`` walks every item of the table (through ``Table.all_items``), even for one
partition. Here a Query on the table reads its partition, and a Query on a global secondary index
reads, of the items that carry its hash key, those its sort key condition allows (an index kept
in sort key order as items are written): a sweep for what is due now reads what is due, not
everything due next month. moto's ``query`` still filters, sorts and pages what it is given.

Replaces: ``Table.query`` (narrows the candidates, then calls moto's), ``Table.all_items`` (answers
the candidates while such a query runs), ``Table.put_item`` (moto's, then the index is told).
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from local.aws.originals import Patch, original, replace_with

ItemKey = tuple[DynamoType, DynamoType | None]

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
        for item in original["all_items"](table):
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
            item = stored(table, *key)
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


def stored(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    if range_key is None:
        found = table.items.get(hash_key)
        return found if isinstance(found, Item) else None
    return table.items.get(hash_key, {}).get(range_key)


def indexed(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
    """Keep the index buckets of ``table`` (once built) up to date with one written item."""
    buckets = table.__dict__.get("_embedded_buckets")
    item = stored(table, hash_key, range_key)
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
            found = stored(table, hash_key, None)
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
        return original["query"](self, hash_key, *args, **kwargs)
    token = _candidates.set((self, found))
    try:
        return original["query"](self, hash_key, *args, **kwargs)
    finally:
        _candidates.reset(token)


def all_items(self: Table) -> list[Item]:
    narrowed = _candidates.get()
    if narrowed is not None and narrowed[0] is self:
        return list(narrowed[1])
    return original["all_items"](self)


def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
    item = original["put_item"](self, *args, **kwargs)
    indexed(self, item.hash_key, item.range_key)
    return item


def remove(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
    if range_key is None:
        table.items.pop(hash_key, None)
    elif hash_key in table.items:
        table.items[hash_key].pop(range_key, None)
        if not table.items[hash_key]:
            del table.items[hash_key]


PATCHES = (
    Patch(Table, "query", replace_with(query)),
    Patch(Table, "all_items", replace_with(all_items)),
    Patch(Table, "put_item", replace_with(put_item)),
)
