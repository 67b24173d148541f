"""One contract, two send queues: the in-memory queue keeps messages as SQS (moto) does.

Each test runs against both, each queue made from infra/resources.json: messages go in through
the port (send, send_batch, postpone) and come out through the calls Lambda's event source makes
(receive, delete), as the flows' drain reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.adapters.queue import SqsQueue
from chalicelib.domain.dispatch import Envelope
from chalicelib.ports import SendQueue
from infra.provision import SEND_QUEUE, load_resources, provision
from tests.support.aws import shared_session, use_fake_aws_credentials
from tests.support.memory import InMemory

SEND = load_resources()[SEND_QUEUE]["Properties"]
VISIBILITY_S = int(SEND["VisibilityTimeout"])
MAX_RECEIVES = int(SEND["RedrivePolicy"]["maxReceiveCount"])


@dataclass
class Queue:
    port: SendQueue
    sqs: Any  # boto3's SQS client, or the in-memory queue's stand-in for it
    url: str
    dead_letters: Callable[[], int]

    def receive(self) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        return answer.get("Messages", [])

    def delete(self, *received: dict[str, Any]) -> None:
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)
        ]
        self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)


@pytest.fixture(params=["memory", "moto"])
def queue(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    if request.param == "memory":
        memory = InMemory()
        yield Queue(
            memory.queue,
            memory.sqs(),
            memory.send_queue_url,
            lambda: len(memory.queue.dead_letters),
        )
        return
    use_fake_aws_credentials(monkeypatch)
    with mock_aws():
        resources = provision(shared_session(), stage="contract")
        sqs = shared_session().client("sqs")

        def dead_letters() -> int:
            attributes = sqs.get_queue_attributes(
                QueueUrl=resources.dead_letter_queue_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            )
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

        yield Queue(
            SqsQueue(sqs, resources.send_queue_url), sqs, resources.send_queue_url, dead_letters
        )


def body(message: dict[str, Any]) -> dict[str, Any]:
    return json.loads(message["Body"])


def test_a_delayed_message_is_received_once_its_delay_has_passed(queue, pinned_clock):
    queue.port.send(Envelope({"n": 1}, delay_s=30))
    assert queue.receive() == []
    pinned_clock.shift(31)
    (received,) = queue.receive()
    assert body(received) == {"n": 1}
    assert received["Attributes"]["ApproximateReceiveCount"] == "1"


def test_a_received_message_comes_back_after_the_visibility_timeout_with_a_new_handle(
    queue, pinned_clock
):
    queue.port.send(Envelope({"n": 1}))
    (first,) = queue.receive()
    assert queue.receive() == []
    pinned_clock.shift(VISIBILITY_S - 5)
    assert queue.receive() == []
    pinned_clock.shift(6)
    (again,) = queue.receive()
    assert again["MessageId"] == first["MessageId"]
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_postponed_message_comes_back_after_the_seconds_asked(queue, pinned_clock):
    queue.port.send(Envelope({"n": 1}))
    (received,) = queue.receive()
    queue.port.postpone(received["ReceiptHandle"], 10)
    pinned_clock.shift(9)
    assert queue.receive() == []
    pinned_clock.shift(2)
    assert [body(m) for m in queue.receive()] == [{"n": 1}]


def test_a_deleted_message_never_comes_back(queue, pinned_clock):
    queue.port.send(Envelope({"n": 1}))
    queue.port.send(Envelope({"n": 2}))
    received = queue.receive()
    queue.delete(*[m for m in received if body(m) == {"n": 1}])
    pinned_clock.shift(VISIBILITY_S + 1)
    assert [body(m) for m in queue.receive()] == [{"n": 2}]


def test_a_message_received_more_often_than_the_redrive_allows_goes_to_the_dead_letters(
    queue, pinned_clock
):
    queue.port.send(Envelope({"n": 1}))
    for count in range(1, MAX_RECEIVES + 1):
        (received,) = queue.receive()
        assert received["Attributes"]["ApproximateReceiveCount"] == str(count)
        pinned_clock.shift(VISIBILITY_S + 1)
    assert queue.receive() == []
    assert queue.dead_letters() == 1


def test_a_batch_is_taken_whole_and_each_message_has_an_id_of_its_own(queue):
    assert queue.port.send_batch([Envelope({"n": n}) for n in range(12)]) == set(range(12))
    received = queue.receive() + queue.receive()
    assert sorted(body(m)["n"] for m in received) == list(range(12))
    assert len({m["MessageId"] for m in received}) == 12
