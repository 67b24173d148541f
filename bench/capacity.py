"""DynamoDB units and SQS requests of every AWS call the code makes, priced from the items it
actually reads and writes.

Around each DynamoDB write it reads the items the write touches, before and after (consistent
GetItem calls of its own, neither counted nor timed as the code's), so that a write is priced by
the larger of the two images and the index writes it causes are known.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

from bench.cost import (
    ITEM_OVERHEAD_BYTES,
    Index,
    Item,
    entry,
    index_write_units,
    item_size,
    read_units,
    sqs_requests,
    write_units,
)
from infra.provision import TABLE, load_resources

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
ONE_REQUEST = {"DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility"}
ONE_REQUEST |= {"ChangeMessageVisibilityBatch"}
KEPT_AT_LEAST_S = 2 * 86_400  # items on a shorter TTL (rate counters, idempotency keys) not stored

_Key = tuple[str, str]  # table name, the key as JSON


@dataclass
class Consumed:
    write_units: float = 0.0
    index_write_units: float = 0.0  # part of write_units
    read_units: float = 0.0
    sqs_requests: int = 0
    write_units_by_kind: Counter[str] = field(default_factory=Counter)  # by the key's prefix
    latest: dict[_Key, Item | None] = field(default_factory=dict)  # items as last written


@dataclass
class Meter:
    table_keys: tuple[str, ...]
    indexes: tuple[Index, ...]
    consumed: Consumed = field(default_factory=Consumed)  # where the calls are charged
    overhead_s: float = 0.0  # time spent in the meter's own reads
    active: bool = False

    def take(self) -> Consumed:
        """What was consumed since the last call."""
        taken, self.consumed = self.consumed, Consumed()
        return taken

    def stored_bytes(self, consumed: Consumed, now_s: float) -> int:
        """What the items ``consumed`` wrote keep in the table and its indexes (beyond a short
        TTL)."""
        stored = 0
        for item in consumed.latest.values():
            purge = item.get("purge_at", {}).get("N") if item else None
            if item is None or (purge is not None and float(purge) < now_s + KEPT_AT_LEAST_S):
                continue
            stored += item_size(item) + ITEM_OVERHEAD_BYTES
            for index in self.indexes:
                if (found := entry(item, index, self.table_keys)) is not None:
                    stored += item_size(found) + ITEM_OVERHEAD_BYTES
        return stored


def table_meter() -> Meter:
    """A meter for the table as infra/resources.json defines it."""
    properties = load_resources()[TABLE]["Properties"]
    indexes = []
    for index in properties.get("GlobalSecondaryIndexes", []):
        projection = index["Projection"]
        projected = None
        if projection["ProjectionType"] != "ALL":
            projected = frozenset(projection.get("NonKeyAttributes", []))
        keys = tuple(k["AttributeName"] for k in index["KeySchema"])
        indexes.append(Index(index["IndexName"], keys, projected))
    table_keys = tuple(k["AttributeName"] for k in properties["KeySchema"])
    return Meter(table_keys, tuple(indexes))


@contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Meter every call made while ``meter.active``."""
    original = botocore.client.BaseClient._make_api_call

    def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if not meter.active:
            return original(client, operation, params)
        if service == "dynamodb" and operation in WRITES:
            return _write(meter, original, client, operation, params)
        answer = original(client, operation, params)
        if service == "dynamodb":
            meter.consumed.read_units += _read_units(operation, params, answer)
        elif service == "sqs":
            meter.consumed.sqs_requests += _sqs_requests(operation, params, answer)
        return answer

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def _read_units(operation: str, params: dict[str, Any], answer: dict[str, Any]) -> float:
    if operation == "GetItem":
        return read_units(item_size(answer.get("Item", {})), params.get("ConsistentRead", False))
    if operation == "BatchGetItem":
        units = 0.0
        for table, request in params["RequestItems"].items():
            found = answer.get("Responses", {}).get(table, [])
            unread = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            missing = len(request["Keys"]) - len(found) - len(unread)
            consistent = request.get("ConsistentRead", False)
            units += sum(read_units(item_size(i), consistent) for i in found)
            units += missing * read_units(0, consistent)
        return units
    if operation == "Query":
        # A Query is priced by the size of everything it read, rounded up once; items its
        # filter dropped were read too (taken as large as the ones it kept).
        items = answer.get("Items", [])
        size = sum(item_size(i) for i in items)
        if items and answer.get("ScannedCount", 0) > len(items):
            size = size * answer["ScannedCount"] // len(items)
        consistent = params.get("ConsistentRead", False) and "IndexName" not in params
        return read_units(size, consistent)
    return 0.0


def _sqs_requests(operation: str, params: dict[str, Any], answer: dict[str, Any]) -> int:
    if operation == "SendMessage":
        return sqs_requests(len(params["MessageBody"].encode()))
    if operation == "SendMessageBatch":
        return sqs_requests(sum(len(e["MessageBody"].encode()) for e in params["Entries"]))
    if operation == "ReceiveMessage":
        return sqs_requests(sum(len(m["Body"].encode()) for m in answer.get("Messages", [])))
    if operation in ONE_REQUEST:
        return 1
    return 0  # GetQueueAttributes: the local poller asks once for the ARN Lambda already knows


def _write(meter: Meter, original: Any, client: Any, operation: str, params: dict[str, Any]) -> Any:
    actions = _actions(meter, operation, params)
    before = _images(meter, original, client, actions)
    try:
        answer = original(client, operation, params)
    except ClientError:
        # A refused write is still charged: priced by the item it found, with no index write.
        for (_, table_key), old in zip(actions, before, strict=True):
            units = write_units(item_size(old or {}), operation == "TransactWriteItems")
            _charge(meter, table_key, units, 0)
        raise
    after = _images(meter, original, client, actions)
    transactional = operation == "TransactWriteItems"
    for (kind, table_key), old, new in zip(actions, before, after, strict=True):
        size = max(item_size(old or {}), item_size(new or {}))
        units = write_units(size, transactional)
        index_units = 0
        if kind != "ConditionCheck":
            meter.consumed.latest[table_key] = new
            index_units = sum(_index_units(meter, old, new))
        _charge(meter, table_key, units + index_units, index_units)
    return answer


def _index_units(meter: Meter, old: Item | None, new: Item | None) -> list[int]:
    return [index_write_units(old, new, index, meter.table_keys) for index in meter.indexes]


def _charge(meter: Meter, table_key: _Key, units: float, index_units: float) -> None:
    consumed = meter.consumed
    consumed.write_units += units
    consumed.index_write_units += index_units
    key = json.loads(table_key[1])
    partition = next(iter(key[meter.table_keys[0]].values()))
    consumed.write_units_by_kind[partition.split("#")[0]] += units


def _actions(meter: Meter, operation: str, params: dict[str, Any]) -> list[tuple[str, _Key]]:
    """(kind of write, the item's table and key) of every item the request writes or checks."""
    if operation == "TransactWriteItems":
        found = []
        for action in params["TransactItems"]:
            ((kind, request),) = action.items()
            found.append((kind, _table_key(meter, request)))
        return found
    if operation == "BatchWriteItem":
        return [
            (kind, _table_key(meter, {"TableName": table, **request}))
            for table, requests in params["RequestItems"].items()
            for write in requests
            for kind, request in write.items()
        ]
    return [(operation, _table_key(meter, params))]


def _table_key(meter: Meter, request: dict[str, Any]) -> _Key:
    key = request.get("Key") or {name: request["Item"][name] for name in meter.table_keys}
    return request["TableName"], json.dumps(key, sort_keys=True)


def _images(meter: Meter, original: Any, client: Any, actions: list[tuple[str, _Key]]) -> list[Any]:
    started = time.perf_counter()
    images = []
    for _, (table, key) in actions:
        request = {"TableName": table, "Key": json.loads(key), "ConsistentRead": True}
        images.append(original(client, "GetItem", request).get("Item"))
    meter.overhead_s += time.perf_counter() - started
    return images
