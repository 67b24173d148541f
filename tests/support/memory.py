"""The in-memory backend, shaped by the template: the table's indexes and what each projects,
the send queue's visibility timeout and redrive, as infra/resources.json defines them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import MemoryQueue, MemorySecrets, QueuedMessage
from chalicelib.adapters.store.memory import MemoryTable
from chalicelib.bootstrap import Adapters
from infra.provision import (
    SEND_QUEUE,
    SWEEP_QUEUE,
    TABLE,
    load_resources,
    send_queue_name,
    sweep_queue_name,
    table_name,
)
from tests.support.aws import fresh_containers, use_service_environment

REGION, ACCOUNT = "us-east-1", "123456789012"
# Any boto3 call in the memory tier is a mistake: it is refused at once, never sent to AWS.
NOWHERE = "http://127.0.0.1:9"


def memory_table() -> MemoryTable:
    indexes, projections = {}, {}
    for index in load_resources()[TABLE]["Properties"]["GlobalSecondaryIndexes"]:
        keys = {key["KeyType"]: key["AttributeName"] for key in index["KeySchema"]}
        indexes[index["IndexName"]] = (keys["HASH"], keys["RANGE"])
        projection = index["Projection"]
        if projection["ProjectionType"] != "ALL":
            projections[index["IndexName"]] = projection.get("NonKeyAttributes", [])
    return MemoryTable(indexes, projections)


def memory_queue(queue: str = SEND_QUEUE) -> MemoryQueue:
    properties = load_resources()[queue]["Properties"]
    return MemoryQueue(
        visibility_timeout_s=int(properties["VisibilityTimeout"]),
        max_receives=int(properties["RedrivePolicy"]["maxReceiveCount"]),
    )


class MemorySqs:
    """The calls local.poller makes of an SQS client, answered by the in-memory queue."""

    def __init__(self, queue: MemoryQueue, arn: str) -> None:
        self.queue, self.arn = queue, arn

    def receive_message(self, MaxNumberOfMessages: int = 1, **_: Any) -> dict[str, Any]:
        messages = [
            {
                "MessageId": message.message_id,
                "ReceiptHandle": message.receipt_handle,
                "Body": message.body,
                "MD5OfBody": message.md5_of_body,
                "Attributes": {
                    "ApproximateReceiveCount": str(message.receive_count),
                    "SentTimestamp": str(int(message.sent_at * 1000)),
                    "ApproximateFirstReceiveTimestamp": str(
                        int((message.first_received_at or message.sent_at) * 1000)
                    ),
                },
            }
            for message in self.queue.receive(MaxNumberOfMessages)
        ]
        return {"Messages": messages} if messages else {}

    def delete_message_batch(self, Entries: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        for entry in Entries:
            self.queue.delete(entry["ReceiptHandle"])
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": self.arn}}

    def send_message(self, MessageBody: str, **_: Any) -> dict[str, Any]:
        """A body as it is, as a test (not submsg) may send one."""
        now = time.time()
        with self.queue._lock:
            self.queue.messages.append(QueuedMessage(str(uuid.uuid4()), MessageBody, now, now))
        return {"MessageId": self.queue.messages[-1].message_id}


TABLE_NAME, QUEUE_NAME = table_name("dev"), send_queue_name("dev")
SWEEP_QUEUE_NAME = sweep_queue_name("dev")


@dataclass(frozen=True)
class InMemory:
    """The flows' default backend: the table, the send queue and the secrets in this process."""

    table: MemoryTable = field(default_factory=memory_table)
    queue: MemoryQueue = field(default_factory=memory_queue)
    secrets: MemorySecrets = field(default_factory=MemorySecrets)
    webhook_queue: MemoryQueue = field(default_factory=MemoryQueue)
    sweep_queue: MemoryQueue = field(default_factory=lambda: memory_queue(SWEEP_QUEUE))
    name = "memory"
    table_name = TABLE_NAME
    send_queue_url = f"memory://{QUEUE_NAME}"
    webhook_queue_url = "memory://submsg-webhooks"
    sweep_queue_url = f"memory://{SWEEP_QUEUE_NAME}"

    @property
    def adapters(self) -> Adapters:
        return Adapters(
            self.table,
            self.queue,
            self.secrets,
            webhook_queue=self.webhook_queue,
            sweep_queue=self.sweep_queue,
        )

    def sqs(self) -> MemorySqs:
        return MemorySqs(self.queue, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}")

    def webhook_sqs(self) -> MemorySqs:
        """The webhook deliverer's queue, read as Lambda's event source reads it."""
        return MemorySqs(self.webhook_queue, f"arn:aws:sqs:{REGION}:{ACCOUNT}:submsg-webhooks")

    def sweep_sqs(self) -> MemorySqs:
        return MemorySqs(self.sweep_queue, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{SWEEP_QUEUE_NAME}")


@contextmanager
def memory_stack(env: pytest.MonkeyPatch) -> Iterator[InMemory]:
    """Every container built meanwhile works on one in-memory table, queue and secrets."""
    world = InMemory()
    use_service_environment(env, world.table_name, world.send_queue_url, world.sweep_queue_url)
    env.setenv("AWS_ENDPOINT_URL", NOWHERE)
    with fresh_containers():
        adapters = world.adapters
        bootstrap.use(lambda settings: adapters)
        yield world
