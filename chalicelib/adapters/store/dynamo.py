"""The table in DynamoDB: conditions, writes and queries turned into requests of the client."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import metrics
from chalicelib.adapters.store import table as t
from chalicelib.adapters.store.table import Cursor, Item, Key
from chalicelib.ports import ConditionFailed, Conflict, Name, Throttled, TransactionFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# What DynamoDB answers when a request wrote nothing for now (the retry policy tries it again):
# the error codes of a request, and the cancellation reasons of a transaction.
CONFLICTED = frozenset({"TransactionConflictException"})
THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
REASON_CONFLICT = "TransactionConflict"
REASONS_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
BATCH_GET = 100  # keys per BatchGetItem, DynamoDB's limit


def to_wire(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_decimalize(value))


def to_item(attributes: Mapping[str, Any], keep_none: bool = False) -> dict[str, Any]:
    """Absent by default (sparse indexes and attribute_not_exists rely on it); NULL if asked."""
    return {
        name: to_wire(value) for name, value in attributes.items() if value is not None or keep_none
    }


def from_item(wire: Mapping[str, Any]) -> Item:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in wire.items()}


def _answered[R](call: Callable[[], R]) -> R:
    """``call()``, its conflicts and throttles raised as the port's ``Conflict`` / ``Throttled``."""
    try:
        return call()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in CONFLICTED:
            raise Conflict(code) from error
        if code in THROTTLED:
            raise Throttled(code) from error
        raise


def _on_the_wire(start: Cursor) -> dict[str, Any]:
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


class _Expression:
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


def _update_expression(update: t.Update, expression: _Expression) -> str:
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


class DynamoTable:
    """The Table port on one DynamoDB table."""

    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self.client = client
        self.name = name
        metrics.count_store_throttles(client)

    def get(self, key: Key, consistent: bool = False) -> Item | None:
        answer = _answered(
            lambda: self.client.get_item(
                TableName=self.name, Key=to_item(key), ConsistentRead=consistent
            )
        )
        return from_item(answer["Item"]) if "Item" in answer else None

    def get_many(self, keys: Sequence[Key]) -> list[Item]:
        found: list[Item] = []
        for first in range(0, len(keys), BATCH_GET):
            pending: dict[str, Any] = {
                self.name: {"Keys": [to_item(k) for k in keys[first : first + BATCH_GET]]}
            }
            while pending:
                answer = _answered(partial(self.client.batch_get_item, RequestItems=pending))
                found += [from_item(i) for i in answer.get("Responses", {}).get(self.name, [])]
                pending = answer.get("UnprocessedKeys") or {}
        return found

    def answers(self) -> bool:
        try:
            self.client.get_item(TableName=self.name, Key=to_item({"pk": "HEALTH", "sk": "-"}))
        except (BotoCoreError, ClientError):
            return False
        return True

    def write(self, write: t.Write, return_new: bool = False) -> Item | None:
        try:
            return _answered(lambda: self._write(write, return_new))
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error)) from error
            raise

    def _write(self, write: t.Write, return_new: bool) -> Item | None:
        kind, request = self._request(write)
        if kind == "Put":
            answer = self.client.put_item(**request, ReturnValues="ALL_OLD")
            return from_item(answer["Attributes"]) if "Attributes" in answer else None
        if kind == "Delete":
            self.client.delete_item(**request)
            return None
        if kind == "Update":
            if return_new:
                request["ReturnValues"] = "ALL_NEW"
            answer = self.client.update_item(**request)
            return from_item(answer["Attributes"]) if return_new else None
        raise TypeError(f"{kind} is only for transactions")

    def commit(self, writes: Mapping[Name, t.Write]) -> None:
        """TransactWriteItems. A condition that failed: TransactionFailed naming it. Canceled
        only by a conflict or a throttle (nothing written): Conflict or Throttled, for the
        retry policy; a failed condition wins over both (the condition is the answer)."""
        names = list(writes)
        items = [dict([self._request(w)]) for w in writes.values()]
        try:
            _answered(lambda: self.client.transact_write_items(TransactItems=items))
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            codes = [r.get("Code", "None") for r in reasons]
            failed = frozenset(
                n for n, c in zip(names, codes, strict=False) if c == "ConditionalCheckFailed"
            )
            if failed:
                raise TransactionFailed(failed) from error
            if REASON_CONFLICT in codes:
                raise Conflict(REASON_CONFLICT) from error
            if REASONS_THROTTLED.intersection(codes):
                raise Throttled(next(c for c in codes if c in REASONS_THROTTLED)) from error
            raise

    def query(
        self, query: t.Query, start: Cursor | None = None
    ) -> tuple[list[Item], Cursor | None]:
        expression = _Expression()
        key_condition = f"{expression.name(query.partition)} = {expression.value(query.value)}"
        if query.sort is not None:
            key_condition += " AND " + expression.sort(query.sort_key, query.sort)
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": query.forward,
        }
        if query.filter is not None:
            request["FilterExpression"] = expression.condition(query.filter)
        if query.index:
            request["IndexName"] = query.index
        else:
            request["ConsistentRead"] = query.consistent
        if query.limit:
            request["Limit"] = query.limit
        if start:
            request["ExclusiveStartKey"] = _on_the_wire(start)
        answer = _answered(lambda: self.client.query(**expression.attach(request)))
        after = answer.get("LastEvaluatedKey")
        return [from_item(i) for i in answer.get("Items", [])], from_item(after) if after else None

    def query_all(self, query: t.Query) -> Iterator[Item]:
        return t.all_pages(self.query, query)

    def delete_many(self, keys: Sequence[Key]) -> None:
        for first in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": to_item(k)}} for k in keys[first : first + 25]]
            pending: dict[str, Any] = {self.name: requests}
            while pending:
                answer = _answered(partial(self.client.batch_write_item, RequestItems=pending))
                pending = answer.get("UnprocessedItems") or {}

    def _request(self, write: t.Write) -> tuple[str, dict[str, Any]]:
        expression = _Expression()
        request: dict[str, Any] = {"TableName": self.name}
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
