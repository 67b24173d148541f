"""Faults the embedded AWS injects at the rates of ``SUBMSG_AWS_FAULTS``
(docs/local-stack.md#faults-of-aws-under-load), as botocore sees them: what it retries, what it
raises, what was applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.provision import Provisioned, provision
from local.aws import faults
from local.aws.faults import Faults, FaultsError
from tests.support.aws import shared_session, use_fake_aws_credentials

RETRY_ONCE = Config(retries={"total_max_attempts": 2, "mode": "standard"})


@pytest.fixture
def resources(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    use_fake_aws_credentials(monkeypatch)
    with mock_aws():
        yield provision(shared_session(), stage="faults")


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


def count(client: Any, table: str, pk: str) -> int | None:
    item = client.get_item(TableName=table, Key=key(pk)).get("Item")
    return int(item["n"]["N"]) if item else None


# Parsing -----------------------------------------------------------------------------------


def test_the_faults_variable_gives_each_rate_and_the_seed():
    parsed = Faults.parse(" conflict=0.05, throttle=0.03,lost=0.02,sqs_error=0,sqs_lost=1,seed=7")
    assert parsed == Faults(conflict=0.05, throttle=0.03, lost=0.02, sqs_lost=1.0, seed=7)
    assert Faults.parse("") == Faults()
    assert str(parsed) == "conflict=0.05,throttle=0.03,lost=0.02,sqs_lost=1,seed=7"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("conflicts=0.05", "unknown fault 'conflicts' (known: conflict, hold_ms, lost,"),
        ("conflict=1.5", "the rate of conflict must be between 0 and 1, not 1.5"),
        ("throttle=-0.1", "the rate of throttle must be between 0 and 1"),
        ("lost=often", "lost must be a number, not 'often'"),
        ("seed=1.5", "seed must be an integer"),
        ("conflict", "write conflict once, as conflict=<value>"),
        ("lost=0.1,lost=0.2", "write lost once"),
        ("hold_ms=100000", "hold_ms must be between 0 and 10000"),
    ],
)
def test_a_fault_the_engine_does_not_know_or_a_rate_outside_0_to_1_is_refused_in_one_line(
    text, says
):
    with pytest.raises(FaultsError) as refused:
        Faults.parse(text)
    assert str(refused.value).startswith("SUBMSG_AWS_FAULTS: ")
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_same_seed_draws_the_same_faults():
    def draws(seed: int) -> list[bool]:
        injector = faults.Injector(Faults(conflict=0.3, seed=seed))
        return [injector.draw("conflict") for _ in range(200)]

    assert draws(11) == draws(11)
    assert draws(11) != draws(12)
    assert 30 < sum(draws(11)) < 90


# DynamoDB ----------------------------------------------------------------------------------


def test_an_injected_conflict_cancels_a_transaction_and_fails_a_single_write(resources):
    client = shared_session().client("dynamodb")
    table = resources.table_name
    with faults.injecting("conflict=1,seed=1") as injector:
        with pytest.raises(ClientError) as canceled:
            client.transact_write_items(TransactItems=[add_one(table, "A"), add_one(table, "B")])
        with pytest.raises(ClientError) as single:
            client.put_item(TableName=table, Item=key("C"))
    assert canceled.value.response["Error"]["Code"] == "TransactionCanceledException"
    codes = [r["Code"] for r in canceled.value.response["CancellationReasons"]]
    assert sorted(codes) == ["None", "TransactionConflict"]
    assert single.value.response["Error"]["Code"] == "TransactionConflictException"
    assert canceled.value.response["ResponseMetadata"]["RetryAttempts"] == 0  # botocore: no retry
    assert [count(client, table, pk) for pk in "AB"] == [None, None]
    assert client.get_item(TableName=table, Key=key("C")).get("Item") is None
    assert injector.injected["conflict"] == 2


def test_an_injected_throttle_is_retried_by_botocore_then_raised(resources):
    client = shared_session().client("dynamodb", config=RETRY_ONCE)
    table = resources.table_name
    with faults.injecting("throttle=1") as injector, pytest.raises(ClientError) as throttled:
        client.update_item(
            TableName=table,
            Key=key("A"),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    assert throttled.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert throttled.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert injector.injected["throttle"] == 2
    assert count(client, table, "A") is None


def test_a_lost_transaction_answer_is_retried_with_its_token_and_applied_once(resources):
    client = shared_session().client("dynamodb", config=RETRY_ONCE)
    table = resources.table_name
    with faults.injecting("lost=1") as injector:
        answer = client.transact_write_items(TransactItems=[add_one(table, "A")])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1  # the first answer was a 500
    assert injector.injected["lost"] == 1
    assert count(client, table, "A") == 1


# SQS ---------------------------------------------------------------------------------------


def test_an_sqs_error_is_retried_and_applies_nothing(resources):
    sqs = shared_session().client("sqs", config=RETRY_ONCE)
    with faults.injecting("sqs_error=1"), pytest.raises(ClientError) as failed:
        sqs.send_message(QueueUrl=resources.send_queue_url, MessageBody="x")
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert failed.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=resources.send_queue_url)


def test_a_lost_sqs_send_is_sent_again_and_lands_twice(resources):
    sqs = shared_session().client("sqs", config=Config(retries={"total_max_attempts": 10}))
    queue = resources.send_queue_url
    with faults.injecting("sqs_lost=0.3,seed=5") as injector:
        for n in range(20):
            sqs.send_message(QueueUrl=queue, MessageBody=f"card-{n}")
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in batch]
    assert injector.injected["sqs_lost"] > 0
    assert len(bodies) == 20 + injector.injected["sqs_lost"]
    assert set(bodies) == {f"card-{n}" for n in range(20)}
