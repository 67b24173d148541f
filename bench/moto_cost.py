"""A 4-item transaction in the embedded DynamoDB as the table grows, against moto's own.

moto applies TransactWriteItems by copying the table; local.aws.transactions keeps an undo log.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import boto3
from moto import mock_aws

ROUNDS = 3


@dataclass(frozen=True)
class TransactionCost:
    stored: int
    plain_ms: float
    embedded_ms: float


def _transaction_ms(stored: int) -> float:
    from infra.provision import provision

    table = provision(boto3.session.Session(), stage=f"cost{stored}").table_name
    db = boto3.client("dynamodb")
    for start in range(0, stored, 25):
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": f"U{n}"}, "sk": {"S": "X"}, "n": {"N": "1"}}}}
            for n in range(start, min(stored, start + 25))
        ]
        db.batch_write_item(RequestItems={table: batch})
    timings = []
    for round_ in range(ROUNDS):
        operations = [
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"T{round_}-{i}"}, "sk": {"S": "X"}}}}
            for i in range(4)
        ]
        started = time.perf_counter()
        db.transact_write_items(TransactItems=operations)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure(sizes: tuple[int, ...] = (100, 20_000)) -> list[TransactionCost]:
    from local.aws import plain_moto

    costs = []
    for stored in sizes:
        with plain_moto(), mock_aws():
            plain = _transaction_ms(stored)
        with mock_aws():
            embedded = _transaction_ms(stored)
        costs.append(TransactionCost(stored, round(plain, 1), round(embedded, 2)))
    return costs
