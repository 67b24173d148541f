"""The send queue in SQS: one message asks the sender to deliver one message."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.dispatch import MAX_DELAY_S, Envelope
from chalicelib.ports import QueueUnavailable

BATCH = 10  # SendMessageBatch takes at most ten


def _entry(envelope: Envelope, index: int) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": json.dumps(envelope.body, ensure_ascii=False),
        "DelaySeconds": max(0, min(MAX_DELAY_S, envelope.delay_s)),
    }


class SqsQueue:
    def __init__(self, sqs_client: Any, url: str) -> None:
        self.sqs = sqs_client
        self.url = url

    def send(self, envelope: Envelope) -> None:
        entry = _entry(envelope, 0)
        try:
            self.sqs.send_message(
                QueueUrl=self.url,
                MessageBody=entry["MessageBody"],
                DelaySeconds=entry["DelaySeconds"],
            )
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(str(error)) from error

    def send_batch(self, envelopes: Sequence[Envelope]) -> set[int]:
        """Enqueue in batches of 10; returns the indexes that SQS accepted. A batch SQS kept
        failing (after botocore's retries) counts as not accepted, as its failed entries do:
        the caller leaves those for a later run (one that did land meanwhile is a duplicate,
        which the claim absorbs)."""
        accepted: set[int] = set()
        for start in range(0, len(envelopes), BATCH):
            entries = [_entry(e, start + i) for i, e in enumerate(envelopes[start : start + BATCH])]
            try:
                answer = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            except (BotoCoreError, ClientError):
                continue
            accepted.update(int(ok["Id"]) for ok in answer.get("Successful", []))
        return accepted

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
