"""The table in memory: the same port as DynamoTable, for tests that need the rules, not AWS.

Items are stored as DynamoDB would return them (through the same serialisation), conditions are
evaluated in Python, every request runs alone, a transaction checks every condition before it
writes anything, an index answers only the attributes it projects, and requests DynamoDB refuses
(a key twice in one batch, an empty update, a condition check outside a transaction) are refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chalicelib.adapters.store import table as t
from chalicelib.adapters.store.dynamo_requests import from_item, to_item
from chalicelib.adapters.store.table import Cursor, Item, Key
from chalicelib.ports import ConditionFailed, Name, TransactionFailed

MAX_TRANSACTION_WRITES = 100

# Index name -> (partition attribute, sort attribute); like the table's global indexes.
Indexes = Mapping[str, tuple[str, str]]
# Index name -> the attributes besides the keys it carries (an index not named: every one).
Projections = Mapping[str, Sequence[str]]


def holds(condition: t.Condition | None, item: Item | None) -> bool:
    """Whether ``condition`` holds for ``item`` (None: the item does not exist)."""
    found = item or {}
    match condition:
        case None:
            return True
        case t.Exists(attribute):
            return attribute in found
        case t.Missing(attribute):
            return attribute not in found
        case t.Equals(attribute, value):
            return attribute in found and found[attribute] == value
        case t.OneOf(attribute, values):
            return attribute in found and found[attribute] in values
        case t.Below(attribute, value, or_equal):
            if attribute not in found:
                return False
            return bool(found[attribute] <= value if or_equal else found[attribute] < value)
        case t.Holds(attribute, value):
            return isinstance(found.get(attribute), list | set) and value in found[attribute]
        case t.Not(inner):
            return not holds(inner, item)
        case t.All(parts):
            return all(holds(p, item) for p in parts)
        case t.AnyOf(parts):
            return any(holds(p, item) for p in parts)
    raise TypeError(f"not a condition: {condition!r}")


def _sorts(sort: t.SortCondition | None, value: Any) -> bool:
    match sort:
        case None:
            return True
        case t.BeginsWith(prefix):
            return isinstance(value, str) and value.startswith(prefix)
        case t.Between(low, high):
            return bool(low <= value <= high)
        case t.AtMost(limit):
            return bool(value <= limit)
    raise TypeError(f"not a sort condition: {sort!r}")


def _stored(attributes: Mapping[str, Any], keep_none: bool = False) -> Item:
    return from_item(to_item(attributes, keep_none))


class MemoryTable:
    """The Table port on a dict keyed by (pk, sk)."""

    def __init__(self, indexes: Indexes, projections: Projections | None = None) -> None:
        self.indexes = dict(indexes)
        self.projections = {name: frozenset(names) for name, names in (projections or {}).items()}
        self.items: dict[tuple[str, str], Item] = {}
        self._lock = threading.RLock()

    def get(self, key: Key, consistent: bool = False) -> Item | None:
        with self._lock:
            found = self.items.get((key["pk"], key["sk"]))
            return dict(found) if found is not None else None

    def get_many(self, keys: Sequence[Key]) -> list[Item]:
        _distinct(keys)
        return [found for key in keys if (found := self.get(key)) is not None]

    def answers(self) -> bool:
        return True

    def write(self, write: t.Write, return_new: bool = False) -> Item | None:
        if isinstance(write, t.Check):
            raise TypeError("Check is only for transactions")
        _changes_something(write)
        with self._lock:
            key = t.key_of(write)
            before = self.items.get((key["pk"], key["sk"]))
            if not holds(write.condition, before):
                raise ConditionFailed(f"{type(write).__name__} on {key}")
            after = self._apply(write, before)
            if isinstance(write, t.Put):
                return dict(before) if before is not None else None
            return dict(after) if return_new and after is not None else None

    def commit(self, writes: Mapping[Name, t.Write], token: str | None = None) -> None:
        with self._lock:
            keys = [tuple(t.key_of(w).values()) for w in writes.values()]
            if len(writes) > MAX_TRANSACTION_WRITES or len(set(keys)) != len(keys):
                raise ValueError("a transaction touches each item once, at most 100 of them")
            for write in writes.values():
                _changes_something(write)
            failed = frozenset(
                name
                for name, write in writes.items()
                if not holds(write.condition, self.items.get(self._key(write)))
            )
            if failed:
                raise TransactionFailed(failed)
            for write in writes.values():
                self._apply(write, self.items.get(self._key(write)))

    def query(
        self, query: t.Query, start: Cursor | None = None
    ) -> tuple[list[Item], Cursor | None]:
        with self._lock:
            found = sorted(self._candidates(query), key=self._order(query))
        if not query.forward:
            found.reverse()
        if start is not None:
            position = self._order(query)(start)
            found = [i for i in found if self._after(i, position, query)]
        page = found[: query.limit] if query.limit else found
        more = query.limit is not None and len(found) > query.limit
        cursor = t.start_after(page[-1], query) if more and page else None
        answered = [self._projected(i, query.index) for i in page]
        return [i for i in answered if holds(query.filter, i)], cursor

    def query_all(self, query: t.Query) -> Iterator[Item]:
        return t.all_pages(self.query, query)

    def delete_many(self, keys: Sequence[Key]) -> None:
        _distinct(keys)
        with self._lock:
            for key in keys:
                self.items.pop((key["pk"], key["sk"]), None)

    # Inside --------------------------------------------------------------------------------

    @staticmethod
    def _key(write: t.Write) -> tuple[str, str]:
        key = t.key_of(write)
        return key["pk"], key["sk"]

    def _apply(self, write: t.Write, before: Item | None) -> Item | None:
        key = self._key(write)
        match write:
            case t.Put(item, _, keep_none):
                self.items[key] = _stored(item, keep_none)
            case t.Delete():
                self.items.pop(key, None)
            case t.Update(item_key, set_, add, remove):
                after = dict(before) if before is not None else dict(item_key)
                for attribute, value in set_.items():
                    if value is None:
                        after.pop(attribute, None)
                    else:
                        after[attribute] = value
                for attribute, amount in add.items():
                    after[attribute] = after.get(attribute, 0) + amount
                for attribute in remove:
                    after.pop(attribute, None)
                self.items[key] = _stored(after)
        return self.items.get(key)

    def _projected(self, item: Item, index: str | None) -> Item:
        """What a query answers of ``item``: all of it, or the keys and what the index projects."""
        if index is None or index not in self.projections:
            return dict(item)
        kept = {"pk", "sk", *self.indexes[index], *self.projections[index]}
        return {name: value for name, value in item.items() if name in kept}

    def _candidates(self, query: t.Query) -> Iterator[Item]:
        sort_key = query.sort_key
        if query.index is not None:
            sort_key = self.indexes[query.index][1]
        for item in self.items.values():
            if item.get(query.partition) != query.value or sort_key not in item:
                continue
            if _sorts(query.sort, item[sort_key]):
                yield item

    def _order(self, query: t.Query) -> Any:
        sort_key = self.indexes[query.index][1] if query.index else query.sort_key
        return lambda item: (item[sort_key], item["pk"], item["sk"])

    def _after(self, item: Item, position: tuple[Any, ...], query: t.Query) -> bool:
        order = self._order(query)(item)
        return order > position if query.forward else order < position


def _distinct(keys: Sequence[Key]) -> None:
    """DynamoDB refuses a batch that names one item twice."""
    named = [(key["pk"], key["sk"]) for key in keys]
    if len(set(named)) != len(named):
        raise ValueError("a batch names one item twice")


def _changes_something(write: t.Write) -> None:
    """DynamoDB refuses an update expression with nothing in it."""
    if isinstance(write, t.Update) and not (write.set or write.add or write.remove):
        raise ValueError(f"an update of {write.key} that changes nothing")
