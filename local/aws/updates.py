"""Updates and conditions without moto's cost.

- ``DynamoDBBackend.update_item`` (moto's): parses, validates and executes an update expression
  through a dozen tree walks (about 3 ms for a four-clause SET). The expressions submsg writes are
  plain placeholders, applied here directly; anything else (paths, functions, a key or index key
  of another type, sets, streams) goes to moto, which stays the reference: the tests compare both
  on the same requests.
- ``get_filter_expression`` and ``create_condition_expression_parser`` (moto's, in
  ``moto.dynamodb.models``, ``.models.table`` and ``.responses``): a transaction's condition is
  parsed three times per request; here once per distinct (expression, names, values).
- ``Item.__init__`` (moto's): re-measures the whole item for every attribute added (a check of
  the 400 KB limit that is quadratic in the attributes); here the size is summed once.
- ``UpdateExpressionParser`` in ``moto.dynamodb.responses``: the validation of a transaction
  parses each update expression again on every request; here once per distinct text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.dynamodb import models as moto_models
from moto.dynamodb import responses as moto_responses
from moto.dynamodb.exceptions import ConditionalCheckFailed, ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type as moto_dynamo_type
from moto.dynamodb.models import table as moto_table_module
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from local.aws.originals import Patch, original, replace_with
from local.aws.queries import indexed

MAX_ITEM_BYTES = 405_000  # moto's own figure for DynamoDB's 400 KB item limit


def update_item(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Item:
    return update(self, table_name, args, kwargs)


def update(
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
        item = original["update_item"](backend, table_name, *args, **kwargs)
    indexed(table, item.hash_key, item.range_key)
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
            parser = original["create_condition_expression_parser"](*self._request)
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


# Items measured once, update expressions parsed once ----------------------------------------------


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


PATCHES = (
    Patch(DynamoDBBackend, "update_item", replace_with(update_item)),
    Patch(moto_models, "get_filter_expression", replace_with(cached_filter_expression)),
    Patch(moto_table_module, "get_filter_expression", replace_with(cached_filter_expression)),
    Patch(moto_models, "create_condition_expression_parser", replace_with(ParsedCondition)),
    Patch(moto_responses, "create_condition_expression_parser", replace_with(ParsedCondition)),
    Patch(Item, "__init__", replace_with(item_init)),
    Patch(moto_responses, "UpdateExpressionParser", UpdateExpressionsParsedOnce),
)


def forget() -> None:
    """Drop what was parsed (moto's own parser comes back on uninstall)."""
    _parsed.clear()
