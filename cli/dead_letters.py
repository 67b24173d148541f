"""The stage's dead-letter queue: look at what failed, move chosen messages back to be sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

HOLD_S = 300  # long enough that a message seen once is not received again while we work
WAIT_S = 1  # a receive that waits this long and finds nothing ends the scan
SCAN_LIMIT = 1000  # messages looked at when searching by id
BATCH = 10  # SQS's largest receive and batch size


@dataclass(frozen=True)
class DeadLetter:
    sqs_id: str
    receipt: str
    body: str
    receive_count: int
    first_received: datetime | None

    def _field(self, name: str) -> str:
        try:
            value = json.loads(self.body).get(name)
        except (ValueError, AttributeError):
            return "?"
        return str(value) if value is not None else "?"

    @property
    def app_id(self) -> str:
        return self._field("app_id")

    @property
    def message_id(self) -> str:
        return self._field("id")


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: those with these ids (SQS's or submsg's), or any."""

    ids: frozenset[str]
    max_count: int

    def takes(self, letter: DeadLetter, taken: int) -> bool:
        if taken >= self.max_count:
            return False
        return not self.ids or bool(_ids_of([letter]) & self.ids)

    def satisfied(self, taken: list[DeadLetter]) -> bool:
        if len(taken) >= self.max_count:
            return True
        return bool(self.ids) and not self.missing(taken)

    def missing(self, taken: list[DeadLetter]) -> set[str]:
        return set(self.ids - _ids_of(taken))

    @property
    def scan_limit(self) -> int:
        return max(SCAN_LIMIT, self.max_count) if self.ids else self.max_count


def _ids_of(letters: list[DeadLetter]) -> set[str]:
    return {letter.sqs_id for letter in letters} | {letter.message_id for letter in letters}


def receive_batches(sqs: SQSClient, url: str, limit: int) -> Iterator[list[DeadLetter]]:
    """Receive (and hide) up to ``limit`` messages; the caller releases or deletes each one."""
    seen = 0
    while seen < limit:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(BATCH, limit - seen),
            VisibilityTimeout=HOLD_S,
            WaitTimeSeconds=WAIT_S,
            AttributeNames=["All"],
        )
        batch = [dead_letter(message) for message in answer.get("Messages", [])]
        if not batch:
            return
        seen += len(batch)
        yield batch


def dead_letter(message: Any) -> DeadLetter:
    attributes = message.get("Attributes", {})
    first = attributes.get("ApproximateFirstReceiveTimestamp")
    return DeadLetter(
        sqs_id=message["MessageId"],
        receipt=message["ReceiptHandle"],
        body=message["Body"],
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        first_received=datetime.fromtimestamp(int(first) / 1000, UTC) if first else None,
    )


def peek(sqs: SQSClient, url: str, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue."""
    letters = [letter for batch in receive_batches(sqs, url, limit) for letter in batch]
    release(sqs, url, letters)
    return letters


def collect(
    sqs: SQSClient, url: str, selection: Selection
) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """The selected dead letters (held for moving) and the others received on the way."""
    taken: list[DeadLetter] = []
    others: list[DeadLetter] = []
    for batch in receive_batches(sqs, url, selection.scan_limit):
        for letter in batch:
            (taken if selection.takes(letter, len(taken)) else others).append(letter)
        if selection.satisfied(taken):
            break
    return taken, others


def move(sqs: SQSClient, letter: DeadLetter, dead_letter_url: str, send_url: str) -> None:
    """Back to the send queue, then out of the DLQ: a crash in between duplicates, never loses."""
    sqs.send_message(QueueUrl=send_url, MessageBody=letter.body)
    sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=letter.receipt)


def release(sqs: SQSClient, url: str, letters: list[DeadLetter]) -> None:
    for start in range(0, len(letters), BATCH):
        entries = [
            {"Id": str(index), "ReceiptHandle": letter.receipt, "VisibilityTimeout": 0}
            for index, letter in enumerate(letters[start : start + BATCH])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
