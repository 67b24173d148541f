"""DynamoDB's side of the table's vocabulary: attribute values on the wire and back, the
expressions of conditions and updates, and one write as the request the client takes."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.adapters.store import table as t
from chalicelib.adapters.store.table import Cursor, Item

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_decimalize(value))


def to_item(attributes: Mapping[str, Any], keep_none: bool = False) -> dict[str, Any]:
    """Absent by default (sparse indexes and attribute_not_exists rely on it); NULL if asked."""
    return {
        name: to_wire(value) for name, value in attributes.items() if value is not None or keep_none
    }


def from_item(wire: Mapping[str, Any]) -> Item:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in wire.items()}


def on_the_wire(start: Cursor) -> dict[str, Any]:
    """A cursor as DynamoDB takes it. The fan-out chains of a campaign running across an upgrade
    may still hold one written in DynamoDB's own form (every value a one-type dict): kept."""
    if all(isinstance(value, dict) and len(value) == 1 for value in start.values()):
        return start
    return to_item(start)


def _decimalize(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimalize(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


class Expression:
    """Placeholders for the names and values of one request's expressions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def condition(self, condition: t.Condition) -> str:
        match condition:
            case t.Exists(attribute):
                return f"attribute_exists({self.name(attribute)})"
            case t.Missing(attribute):
                return f"attribute_not_exists({self.name(attribute)})"
            case t.Equals(attribute, value):
                return f"{self.name(attribute)} = {self.value(value)}"
            case t.OneOf(attribute, values):
                name = self.name(attribute)
                return f"{name} IN ({', '.join(self.value(v) for v in values)})"
            case t.Below(attribute, value, or_equal):
                return f"{self.name(attribute)} {'<=' if or_equal else '<'} {self.value(value)}"
            case t.Holds(attribute, value):
                return f"contains({self.name(attribute)}, {self.value(value)})"
            case t.Not(inner):
                return f"NOT ({self.condition(inner)})"
            case t.All(parts):
                return " AND ".join(f"({self.condition(p)})" for p in parts)
            case t.AnyOf(parts):
                return " OR ".join(f"({self.condition(p)})" for p in parts)
        raise TypeError(f"not a condition: {condition!r}")

    def sort(self, attribute: str, sort: t.SortCondition) -> str:
        name = self.name(attribute)
        match sort:
            case t.BeginsWith(prefix):
                return f"begins_with({name}, {self.value(prefix)})"
            case t.Between(low, high):
                return f"{name} BETWEEN {self.value(low)} AND {self.value(high)}"
            case t.AtMost(value):
                return f"{name} <= {self.value(value)}"
        raise TypeError(f"not a sort condition: {sort!r}")

    def attach(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.names:
            request["ExpressionAttributeNames"] = self.names
        if self.values:
            request["ExpressionAttributeValues"] = to_item(self.values, keep_none=True)
        return request


def _update_expression(update: t.Update, expression: Expression) -> str:
    sets = [(a, v) for a, v in update.set.items() if v is not None]
    removes = [*update.remove, *(a for a, v in update.set.items() if v is None)]
    clauses = []
    if sets:
        parts = (f"{expression.name(a)} = {expression.value(v)}" for a, v in sets)
        clauses.append("SET " + ", ".join(parts))
    if update.add:
        parts = (f"{expression.name(a)} {expression.value(n)}" for a, n in update.add.items())
        clauses.append("ADD " + ", ".join(parts))
    if removes:
        clauses.append("REMOVE " + ", ".join(expression.name(a) for a in removes))
    return " ".join(clauses)


def write_request(table_name: str, write: t.Write) -> tuple[str, dict[str, Any]]:
    """One write as the request DynamoDB takes (and its kind, for a transaction's items)."""
    expression = Expression()
    request: dict[str, Any] = {"TableName": table_name}
    match write:
        case t.Put(item, _, keep_none):
            kind, request["Item"] = "Put", to_item(item, keep_none)
        case t.Delete(key):
            kind, request["Key"] = "Delete", to_item(key)
        case t.Update(key):
            kind, request["Key"] = "Update", to_item(key)
            request["UpdateExpression"] = _update_expression(write, expression)
        case t.Check(key):
            kind, request["Key"] = "ConditionCheck", to_item(key)
    if write.condition is not None:
        request["ConditionExpression"] = expression.condition(write.condition)
    return kind, expression.attach(request)
