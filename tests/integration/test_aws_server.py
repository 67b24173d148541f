"""The embedded AWS endpoint (``python -m local.aws.server``) answers over HTTP as the patched
moto answers in process: DynamoDB and SQS go to their handlers without moto's Flask app, and
nothing of an answer may change on the way, errors included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.provision import provision
from local import aws as embedded_aws
from local.aws.server import AwsServer
from tests.support.aws import use_fake_aws_credentials


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    running = AwsServer(0)
    try:
        yield running.start()
    finally:
        running.stop()


def answer_or_error(call: Any) -> Any:
    try:
        answer = call()
    except ClientError as error:
        return {
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            "error": error.response["Error"],
            "reasons": error.response.get("CancellationReasons"),
        }
    answer.pop("ResponseMetadata", None)
    return answer


def scenario(session: boto3.session.Session, endpoint_url: str | None) -> list[Any]:
    resources = provision(session, stage="server", endpoint_url=endpoint_url)
    db = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    table, queue = resources.table_name, resources.send_queue_url
    key = {"pk": {"S": "A"}, "sk": {"S": "1"}}
    item = {**key, "n": {"N": "1"}, "b": {"B": b"\x00\x01"}, "l": {"L": [{"S": "x"}]}}
    put_if_new = {
        "Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
    }
    received: dict[str, Any] = {}

    def receive() -> dict[str, Any]:
        received.update(sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10))
        return {"bodies": sorted(m["Body"] for m in received.get("Messages", []))}

    def delete() -> dict[str, Any]:
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
            for n, m in enumerate(received["Messages"])
        ]
        entries.append({"Id": "bad", "ReceiptHandle": "no-message-had-this-handle"})
        return dict(sqs.delete_message_batch(QueueUrl=queue, Entries=entries))

    calls = [
        lambda: db.transact_write_items(TransactItems=[put_if_new]),
        lambda: db.transact_write_items(TransactItems=[put_if_new]),  # canceled, with a reason
        lambda: db.transact_write_items(TransactItems=[put_if_new, put_if_new]),  # invalid
        lambda: db.get_item(TableName=table, Key=key),
        lambda: db.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "A"}},
        ),
        lambda: db.get_item(TableName="no-such-table", Key=key),
        lambda: db.update_item(TableName=table, Key=key, UpdateExpression="SET = 1"),
        lambda: sqs.send_message(QueueUrl=queue, MessageBody="one"),
        lambda: sqs.send_message(QueueUrl=queue, MessageBody="two"),
        receive,
        delete,
        lambda: sqs.get_queue_url(QueueName="no-such-queue"),
    ]
    return [answer_or_error(call) for call in calls]


def without_ids(answers: list[Any]) -> list[Any]:
    """The answers, less what differs from run to run (message ids and their digests)."""
    for answer in answers:
        answer.pop("MessageId", None)
        answer.pop("MD5OfMessageBody", None)
    return answers


def test_the_server_answers_as_moto_in_process_does(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fake_aws_credentials(monkeypatch)
    session = boto3.session.Session()
    over_http = without_ids(scenario(session, server))
    assert embedded_aws.installed()
    with mock_aws():
        in_process = without_ids(scenario(boto3.session.Session(), None))

    assert over_http == in_process
    statuses = [answer.get("status") for answer in in_process]
    assert (
        statuses.count(400) >= 4 and in_process[1]["reasons"][0]["Code"] == "ConditionalCheckFailed"
    )
    assert in_process[3]["Item"]["b"] == {"B": b"\x00\x01"}
    assert in_process[10]["Failed"][0]["Id"] == "bad"
