"""The table in DynamoDB: conditions, writes and queries turned into requests of the client."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import metrics
from chalicelib.adapters.store import table as t
from chalicelib.adapters.store.dynamo_requests import (
    Expression,
    from_item,
    on_the_wire,
    to_item,
    write_request,
)
from chalicelib.adapters.store.table import Cursor, Item, Key
from chalicelib.ports import ConditionFailed, Conflict, Name, Throttled, TransactionFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# What DynamoDB answers when a request wrote nothing for now (the retry policy tries it again):
# the error codes of a request, and the cancellation reasons of a transaction.
# (TransactionInProgressException: a commit's earlier attempt, same token, is still applying.)
CONFLICTED = frozenset({"TransactionConflictException", "TransactionInProgressException"})
THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
REASON_CONFLICT = "TransactionConflict"
REASONS_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})

BATCH_GET = 100  # keys per BatchGetItem, DynamoDB's limit


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
        kind, request = write_request(self.name, write)
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

    def commit(self, writes: Mapping[Name, t.Write], token: str | None = None) -> None:
        """TransactWriteItems. A condition that failed: TransactionFailed naming it. Canceled
        only by a conflict or a throttle (nothing written): Conflict or Throttled, for the
        retry policy; a failed condition wins over both (the condition is the answer)."""
        names = list(writes)
        items = [dict([write_request(self.name, w)]) for w in writes.values()]
        request: dict[str, Any] = {"TransactItems": items}
        if token:
            request["ClientRequestToken"] = token
        try:
            _answered(lambda: self.client.transact_write_items(**request))
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
        expression = Expression()
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
            request["ExclusiveStartKey"] = on_the_wire(start)
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
