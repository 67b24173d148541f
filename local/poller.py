"""Feeds the sender handler from SQS the way Lambda's event source mapping does.

Receives up to 10 messages, builds a real-shaped SQS event (unique messageIds, attributes with
ApproximateReceiveCount), invokes the handler and deletes only the records it did not report as
failed; failed ones come back when their visibility timeout ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any] | None]


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "us-east-1",
            }
            for m in messages
        ]
    }


_arns: dict[str, str] = {}


def _queue_arn(sqs: Any, queue_url: str) -> str:
    """A queue's ARN never changes: asked once per queue, as Lambda's event source knows it."""
    if queue_url not in _arns:
        answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        _arns[queue_url] = answer["Attributes"]["QueueArn"]
    return _arns[queue_url]


def poll_once(
    sqs: Any, queue_url: str, handler: Handler, wait_s: int = 0, max_records: int = 10
) -> int:
    """One receive-invoke-delete round of up to ``max_records`` (the event source's batch
    size); returns how many records were handed to the handler."""
    answer = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_records,
        WaitTimeSeconds=wait_s,
        AttributeNames=["All"],
    )
    received = answer.get("Messages", [])
    if not received:
        return 0
    event = sqs_event(received, _queue_arn(sqs, queue_url))
    result = handler(event) or {}
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    done = [
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
        for i, m in enumerate(received)
        if m["MessageId"] not in failed
    ]
    if done:
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
    return len(received)
