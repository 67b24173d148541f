"""The send queue: SQS messages that ask the sender to deliver one message."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_DELAY_S = 900


@dataclass(frozen=True)
class Envelope:
    """What one SQS message carries: the message snapshot to deliver."""

    body: dict[str, Any]
    delay_s: int = 0

    def to_entry(self, index: int) -> dict[str, Any]:
        return {
            "Id": str(index),
            "MessageBody": json.dumps(self.body, ensure_ascii=False),
            "DelaySeconds": max(0, min(MAX_DELAY_S, self.delay_s)),
        }


class SendQueue:
    def __init__(self, sqs_client: Any, url: str) -> None:
        self.sqs = sqs_client
        self.url = url

    def send(self, envelope: Envelope) -> None:
        entry = envelope.to_entry(0)
        self.sqs.send_message(
            QueueUrl=self.url, MessageBody=entry["MessageBody"], DelaySeconds=entry["DelaySeconds"]
        )

    def send_batch(self, envelopes: Sequence[Envelope]) -> set[int]:
        """Enqueue in batches of 10; returns the indexes that SQS accepted."""
        accepted: set[int] = set()
        for start in range(0, len(envelopes), 10):
            entries = [e.to_entry(start + i) for i, e in enumerate(envelopes[start : start + 10])]
            answer = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            accepted.update(int(ok["Id"]) for ok in answer.get("Successful", []))
        return accepted

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
