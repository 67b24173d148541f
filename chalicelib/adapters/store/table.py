"""What the repositories ask of a table: conditions, writes and queries as data.

Two tables understand it: ``DynamoTable`` (DynamoDB, through boto3) and ``MemoryTable`` (a dict,
for fast tests). The repositories build these values and never see an expression string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = dict[str, str]
Item = dict[str, Any]


# Conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exists:
    attribute: str


@dataclass(frozen=True)
class Missing:
    attribute: str


@dataclass(frozen=True)
class Equals:
    attribute: str
    value: Any


@dataclass(frozen=True)
class OneOf:
    attribute: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Below:
    """``attribute < value`` (``or_equal``: ``<=``)."""

    attribute: str
    value: Any
    or_equal: bool = False


@dataclass(frozen=True)
class Holds:
    """A list or set attribute holds ``value``."""

    attribute: str
    value: Any


@dataclass(frozen=True)
class Not:
    condition: Condition


@dataclass(frozen=True)
class All:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


Condition = Exists | Missing | Equals | OneOf | Below | Holds | Not | All | AnyOf
NEW = Missing("pk")  # the item does not exist yet
EXISTING = Exists("pk")


def every(*conditions: Condition | None) -> Condition | None:
    """All the given conditions (None ones left out); None when there are none."""
    found = tuple(c for c in conditions if c is not None)
    if not found:
        return None
    return found[0] if len(found) == 1 else All(found)


# Writes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Put:
    item: Mapping[str, Any]
    condition: Condition | None = None
    keep_none: bool = False  # store None values as NULL instead of leaving them out


@dataclass(frozen=True)
class Delete:
    key: Key
    condition: Condition | None = None


@dataclass(frozen=True)
class Update:
    """SET ``set`` (None values: REMOVE them), ADD ``add``, REMOVE ``remove``."""

    key: Key
    set: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, int] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    condition: Condition | None = None


@dataclass(frozen=True)
class Check:
    key: Key
    condition: Condition


Write = Put | Delete | Update | Check


def key_of(write: Write) -> Key:
    if isinstance(write, Put):
        return {"pk": write.item["pk"], "sk": write.item["sk"]}
    return write.key


# Queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BeginsWith:
    prefix: str


@dataclass(frozen=True)
class Between:
    low: Any
    high: Any


@dataclass(frozen=True)
class AtMost:
    value: Any


SortCondition = BeginsWith | Between | AtMost


@dataclass(frozen=True)
class Query:
    """Items whose ``partition`` attribute equals ``value``, in the order of ``sort_key``.

    ``index`` names a global secondary index (``None``: the table itself); ``filter`` drops
    items after ``limit`` items were read, as DynamoDB does.
    """

    partition: str
    value: Any
    sort_key: str = "sk"
    sort: SortCondition | None = None
    index: str | None = None
    forward: bool = True
    limit: int | None = None
    consistent: bool = False
    filter: Condition | None = None


# Where the next page starts: the key attributes of the last item read (the table's ``pk`` and
# ``sk``, and the index's own when the query reads one), as plain JSON values.
Cursor = dict[str, Any]


def start_after(item: Item, query: Query) -> Cursor:
    """The cursor whose page starts right after ``item`` (an item ``query`` returned)."""
    return {name: item[name] for name in ("pk", "sk", query.partition, query.sort_key)}


def all_pages(
    query_page: Callable[[Query, Cursor | None], tuple[list[Item], Cursor | None]], query: Query
) -> Iterator[Item]:
    """Every item of ``query``, page after page (a table's ``query_all``)."""
    start: Cursor | None = None
    while True:
        items, start = query_page(query, start)
        yield from items
        if start is None:
            return
