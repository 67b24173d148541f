"""The embedded DynamoDB against DynamoDB's documented rules for transactions in flight and
client request tokens (docs/local-stack.md#what-the-embedded-aws-does-as-dynamodb-does), one test
per rule; each names the rule as the DynamoDB Developer Guide and API reference state it.

A transaction is held in flight with ``conflicts.hold_window`` (it waits on an event after taking
its holds and before applying), so that what meets it is deterministic.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.provision import provision
from local.aws import conflicts, faults, idempotency
from tests.support.aws import shared_session, use_fake_aws_credentials

Client = Any
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, str]]:
    use_fake_aws_credentials(monkeypatch)
    with mock_aws():
        table = provision(shared_session(), stage="rules").table_name
        yield shared_session().client("dynamodb", config=NO_RETRY), table


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "X"}}


def add_one(table: str, pk: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key(pk),
            "UpdateExpression": "ADD #n :one",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def count(client: Client, table: str, pk: str) -> int | None:
    item = client.get_item(TableName=table, Key=key(pk), ConsistentRead=True).get("Item")
    return int(item["n"]["N"]) if item and "n" in item else None


def error_code(call: Callable[[], Any]) -> tuple[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response


class InFlight:
    """A TransactWriteItems held between its holds and its apply until ``release``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.holding: list[Any] = []
        monkeypatch.setattr(conflicts, "hold_window", self._wait)
        self._pool = ThreadPoolExecutor(1)

    def _wait(self, keys: list[Any]) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        self.holding = keys
        self.held.set()
        assert self.release.wait(10)

    def start(self, call: Callable[[], Any]) -> Any:
        future = self._pool.submit(call)
        assert self.held.wait(10), "the transaction never took its holds"
        return future

    def finish(self, future: Any) -> Any:
        self.release.set()
        try:
            return future.result(10)
        finally:
            self._pool.shutdown()


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> InFlight:
    return InFlight(monkeypatch)


def test_a_transaction_on_an_item_another_transaction_is_writing_is_canceled_with_a_conflict(
    dynamodb, in_flight
):
    """DynamoDB: "An item within a TransactWriteItems request is part of another ongoing
    TransactWriteItems request" is a conflict; "If any item-level request within
    TransactWriteItems ... is rejected, the request fails with a TransactionCanceledException",
    CancellationReasons giving TransactionConflict for that item and None for the others."""
    client, table = dynamodb
    first = in_flight.start(
        lambda: client.transact_write_items(TransactItems=[add_one(table, "A")])
    )
    code, response = error_code(
        lambda: client.transact_write_items(
            TransactItems=[add_one(table, "B"), add_one(table, "A")]
        )
    )
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in response["CancellationReasons"]] == ["None", "TransactionConflict"]
    in_flight.finish(first)
    assert count(client, table, "A") == 1  # the first applied, the second wrote nothing
    assert count(client, table, "B") is None
    client.transact_write_items(TransactItems=[add_one(table, "B"), add_one(table, "A")])
    assert (count(client, table, "A"), count(client, table, "B")) == (2, 1)  # holds let go


@pytest.mark.parametrize("operation", ["put_item", "update_item", "delete_item"])
def test_a_single_write_on_an_item_a_transaction_is_writing_fails_with_a_conflict(
    dynamodb, in_flight, operation
):
    """DynamoDB: "A PutItem, UpdateItem, or DeleteItem request for an item conflicts with an
    ongoing TransactWriteItems request that includes the same item"; "When a PutItem,
    UpdateItem, or DeleteItem request is rejected, the request fails with a
    TransactionConflictException"."""
    client, table = dynamodb
    client.put_item(TableName=table, Item={**key("A"), "n": {"N": "10"}})
    first = in_flight.start(
        lambda: client.transact_write_items(TransactItems=[add_one(table, "A")])
    )
    requests = {
        "put_item": lambda: client.put_item(TableName=table, Item={**key("A"), "n": {"N": "0"}}),
        "update_item": lambda: client.update_item(
            TableName=table,
            Key=key("A"),
            UpdateExpression="SET #n = :zero",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":zero": {"N": "0"}},
        ),
        "delete_item": lambda: client.delete_item(TableName=table, Key=key("A")),
    }
    code, _ = error_code(requests[operation])
    assert code == "TransactionConflictException"
    client.put_item(TableName=table, Item={**key("OTHER"), "n": {"N": "5"}})  # others not held
    in_flight.finish(first)
    assert count(client, table, "A") == 11  # the rejected write wrote nothing
    requests[operation]()  # the transaction done, its items are free
    assert count(client, table, "A") in (0, None)


def test_a_read_during_a_transaction_sees_the_items_before_it_or_after_it(dynamodb, in_flight):
    """DynamoDB: GetItem is not held up by a transaction in flight (read-committed: "a read
    operation never returns ... values from a transaction that does not ultimately succeed");
    it sees either the state before the transaction or after it, never a part of it."""
    client, table = dynamodb
    client.put_item(TableName=table, Item={**key("A"), "n": {"N": "1"}})
    client.put_item(TableName=table, Item={**key("B"), "n": {"N": "1"}})
    first = in_flight.start(
        lambda: client.transact_write_items(
            TransactItems=[add_one(table, "A"), add_one(table, "B")]
        )
    )
    assert (count(client, table, "A"), count(client, table, "B")) == (1, 1)
    in_flight.finish(first)
    assert (count(client, table, "A"), count(client, table, "B")) == (2, 2)


def test_the_same_client_request_token_and_request_is_applied_once(dynamodb):
    """DynamoDB: "Providing a ClientRequestToken makes the call to TransactWriteItems idempotent,
    meaning that multiple identical calls have the same effect as one single call"."""
    client, table = dynamodb
    token = str(uuid.uuid4())
    first = client.transact_write_items(
        TransactItems=[add_one(table, "A")], ClientRequestToken=token
    )
    again = client.transact_write_items(
        TransactItems=[add_one(table, "A")], ClientRequestToken=token
    )
    assert count(client, table, "A") == 1
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k: v for k, v in again.items() if k != "ResponseMetadata"} == {
        k: v for k, v in first.items() if k != "ResponseMetadata"
    }
    client.transact_write_items(TransactItems=[add_one(table, "A")])  # botocore's own token
    assert count(client, table, "A") == 2


def test_the_same_client_request_token_with_another_request_is_a_mismatch(dynamodb):
    """DynamoDB: "If you submit a request with the same client token but a change in other
    parameters within the 10-minute idempotency window, DynamoDB returns an
    IdempotentParameterMismatch exception"."""
    client, table = dynamodb
    token = str(uuid.uuid4())
    client.transact_write_items(TransactItems=[add_one(table, "A")], ClientRequestToken=token)
    code, _ = error_code(
        lambda: client.transact_write_items(
            TransactItems=[add_one(table, "B")], ClientRequestToken=token
        )
    )
    assert code == "IdempotentParameterMismatchException"
    assert (count(client, table, "A"), count(client, table, "B")) == (1, None)


def test_a_client_request_token_is_kept_for_ten_minutes_after_its_request_completed(
    dynamodb, monkeypatch
):
    """DynamoDB: "A client request token is valid for 10 minutes after the first request that
    uses it is completed. After 10 minutes, any request with the same client token is treated as
    a new request"."""
    client, table = dynamodb
    now = [1_000.0]
    monkeypatch.setattr(idempotency.tokens, "clock", lambda: now[0])
    token = str(uuid.uuid4())

    def send() -> None:
        client.transact_write_items(TransactItems=[add_one(table, "A")], ClientRequestToken=token)

    send()
    now[0] += 599
    send()
    assert count(client, table, "A") == 1
    now[0] += 2  # 601 s after the first completed
    send()
    assert count(client, table, "A") == 2


def test_a_client_request_token_whose_request_is_still_in_flight_is_in_progress(
    dynamodb, in_flight
):
    """DynamoDB: TransactionInProgressException, "The transaction with the given request token is
    already in progress", for a request sent again while the first is being applied."""
    client, table = dynamodb
    token = str(uuid.uuid4())

    def send() -> Any:
        return client.transact_write_items(
            TransactItems=[add_one(table, "A")], ClientRequestToken=token
        )

    first = in_flight.start(send)
    code, _ = error_code(send)
    assert code == "TransactionInProgressException"
    in_flight.finish(first)
    send()
    assert count(client, table, "A") == 1


def test_transactions_served_at_once_meet_each_others_holds(dynamodb, monkeypatch):
    """Overlap is reachable without a test's hook: with the window of ``hold_ms`` and the
    threads of a server, concurrent transactions on one item conflict, and every one that was
    not canceled was applied exactly once."""
    client, table = dynamodb
    monkeypatch.setattr(conflicts, "overlap", True)
    start = threading.Barrier(4)

    def send(_: int) -> str:
        start.wait(10)
        try:
            client.transact_write_items(TransactItems=[add_one(table, "HOT")])
            return "applied"
        except ClientError as error:
            reasons = error.response.get("CancellationReasons", [])
            return reasons[0]["Code"] if reasons else error.response["Error"]["Code"]

    with faults.injecting("hold_ms=300"), ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(send, range(4)))
    assert set(outcomes) == {"applied", "TransactionConflict"}
    assert count(client, table, "HOT") == outcomes.count("applied")
    assert conflicts.holding() == []
