"""A thin layer over the DynamoDB client: (de)serialisation, queries, conditional writes."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.store.layout import Key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ConditionFailed(Exception):
    """A conditional write found the item in another state."""


class TransactionCanceled(Exception):
    """A transaction was canceled; ``failed`` holds the indexes whose condition failed."""

    def __init__(self, failed: set[int], codes: list[str]) -> None:
        super().__init__(f"transaction canceled: {codes}")
        self.failed = failed
        self.conflict = "TransactionConflict" in codes


def to_wire(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_decimalize(value))


def to_item(attributes: Mapping[str, Any], keep_none: bool = False) -> dict[str, Any]:
    """Absent by default (sparse indexes and attribute_not_exists rely on it); NULL if asked."""
    return {
        name: to_wire(value) for name, value in attributes.items() if value is not None or keep_none
    }


def from_item(wire: Mapping[str, Any]) -> Item:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in wire.items()}


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


@dataclass(frozen=True)
class Update:
    """An UpdateItem expression with its names and values, built by the repositories."""

    key: Key
    expression: str
    names: dict[str, str]
    values: dict[str, Any]
    condition: str | None = None

    @classmethod
    def build(
        cls,
        key: Key,
        *,
        set_: Mapping[str, Any] | None = None,
        add: Mapping[str, int] | None = None,
        remove: Sequence[str] = (),
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Update:
        """SET/ADD/REMOVE clauses with placeholders; ``condition`` uses its own names/values."""
        all_names = dict(names or {})
        all_values = dict(values or {})
        clauses = []

        def placeholder(attribute: str) -> str:
            name = f"#u{len(all_names)}"
            all_names[name] = attribute
            return name

        if set_:
            parts = []
            for attribute, value in set_.items():
                token = f":u{len(all_values)}"
                all_values[token] = value
                parts.append(f"{placeholder(attribute)} = {token}")
            clauses.append("SET " + ", ".join(parts))
        if add:
            parts = []
            for attribute, amount in add.items():
                token = f":u{len(all_values)}"
                all_values[token] = amount
                parts.append(f"{placeholder(attribute)} {token}")
            clauses.append("ADD " + ", ".join(parts))
        if remove:
            clauses.append("REMOVE " + ", ".join(placeholder(a) for a in remove))
        return cls(key, " ".join(clauses), all_names, all_values, condition)

    def request(self, table: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": table,
            "Key": to_item(self.key),
            "UpdateExpression": self.expression,
        }
        if self.names:
            request["ExpressionAttributeNames"] = self.names
        if self.values:
            request["ExpressionAttributeValues"] = to_item(self.values)
        if self.condition:
            request["ConditionExpression"] = self.condition
        return request


class Dynamo:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, key: Key, consistent: bool = False) -> Item | None:
        answer = self.client.get_item(
            TableName=self.table, Key=to_item(key), ConsistentRead=consistent
        )
        return from_item(answer["Item"]) if "Item" in answer else None

    def answers(self, key: Key) -> bool:
        try:
            self.client.get_item(TableName=self.table, Key=to_item(key))
        except (BotoCoreError, ClientError):
            return False
        return True

    def put(
        self, item: Mapping[str, Any], condition: str | None = None, keep_none: bool = False
    ) -> bool:
        """Write an item; True when it replaced an existing one."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item(item, keep_none),
            "ReturnValues": "ALL_OLD",
        }
        if condition:
            request["ConditionExpression"] = condition
        return "Attributes" in self._conditional(self.client.put_item, request)

    def delete(self, key: Key, condition: str | None = None) -> None:
        request: dict[str, Any] = {"TableName": self.table, "Key": to_item(key)}
        if condition:
            request["ConditionExpression"] = condition
        self._conditional(self.client.delete_item, request)

    def update(self, update: Update, return_new: bool = False) -> Item | None:
        request = update.request(self.table)
        if return_new:
            request["ReturnValues"] = "ALL_NEW"
        answer = self._conditional(self.client.update_item, request)
        return from_item(answer["Attributes"]) if return_new else None

    def query(
        self,
        key_condition: str,
        values: Mapping[str, Any],
        *,
        index: str | None = None,
        names: Mapping[str, str] | None = None,
        limit: int | None = None,
        forward: bool = True,
        start: Mapping[str, Any] | None = None,
        consistent: bool = False,
        filter_: str | None = None,
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One page of a Query: items and the key to continue from (None at the end)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": forward,
        }
        if index:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = consistent
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if limit:
            request["Limit"] = limit
        if start:
            request["ExclusiveStartKey"] = start
        if filter_:
            request["FilterExpression"] = filter_
        answer = self.client.query(**request)
        return [from_item(i) for i in answer.get("Items", [])], answer.get("LastEvaluatedKey")

    def query_all(
        self, key_condition: str, values: Mapping[str, Any], **options: Any
    ) -> Iterator[Item]:
        start = None
        while True:
            items, start = self.query(key_condition, values, start=start, **options)
            yield from items
            if start is None:
                return

    def transact(self, operations: Sequence[dict[str, Any]], conflict_retries: int = 3) -> None:
        """Run TransactWriteItems of Put / Delete / Update / ConditionCheck operations.

        A transaction canceled only by a conflict with another one wrote nothing: run it again.
        """
        for attempt in range(conflict_retries + 1):
            try:
                self.client.transact_write_items(TransactItems=list(operations))
                return
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons") or []
                codes = [r.get("Code", "None") for r in reasons]
                failed = {i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
                canceled = TransactionCanceled(failed, codes)
                if failed or not canceled.conflict or attempt == conflict_retries:
                    raise canceled from error
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))

    def batch_delete(self, keys: Sequence[Key]) -> None:
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": to_item(k)}} for k in keys[start : start + 25]]
            pending: dict[str, Any] = {self.table: requests}
            while pending:
                answer = self.client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}

    # Transaction operation builders -------------------------------------------------------

    def put_op(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(item)}
        if condition:
            put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = to_item(values)
        return {"Put": put}

    def delete_op(self, key: Key, condition: str | None = None) -> dict[str, Any]:
        delete: dict[str, Any] = {"TableName": self.table, "Key": to_item(key)}
        if condition:
            delete["ConditionExpression"] = condition
        return {"Delete": delete}

    def update_op(self, update: Update) -> dict[str, Any]:
        return {"Update": update.request(self.table)}

    def check_op(
        self, key: Key, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        check: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item(key),
            "ConditionExpression": condition,
        }
        if names:
            check["ExpressionAttributeNames"] = names
        if values:
            check["ExpressionAttributeValues"] = to_item(values)
        return {"ConditionCheck": check}

    @staticmethod
    def _conditional(call: Any, request: dict[str, Any]) -> Any:
        try:
            return call(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error)) from error
            raise
