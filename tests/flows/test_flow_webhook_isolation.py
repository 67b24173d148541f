"""One app's dead endpoint never slows another's: the endpoint's circuit, through the webhook
routes and the deliverer's SQS handler. The dead receiver never answers; each attempt at it
costs the deliverer's 15 s on the pinned clock, never in real time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests
import responses

from chalicelib.domain.webhooks import CIRCUIT_AFTER
from local.poller import poll_once
from tests.support.tenants import OTHER_APP_ID, Api, make_tenant
from tests.support.webhooks import Receiver, create_endpoint, deliveries

DEAD = "https://receiver.example/hooks/dead"


class DeadReceiver:
    """Never answers: the attempt times out after the 15 s the deliverer waits. ``meanwhile``
    runs during the wait: what another deliverer does while this one is held."""

    def __init__(self, mock: responses.RequestsMock, clock: Any) -> None:
        self.clock = clock
        self.requests: list[Any] = []
        self.in_flight = self.most_in_flight = 0
        self.alive = False
        self.meanwhile: Callable[[], None] | None = None
        mock.add_callback(responses.POST, DEAD, callback=self._hang)

    def _hang(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        if self.alive:
            return 204, {}, ""
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            job, self.meanwhile = self.meanwhile, None
            if job is not None:
                job()
            self.clock.shift(15)
        finally:
            self.in_flight -= 1
        raise requests.exceptions.ReadTimeout("no answer")


@pytest.fixture
def dead(wx, pinned_clock) -> DeadReceiver:
    return DeadReceiver(wx.mock, pinned_clock)


@pytest.fixture
def other(client, services) -> Api:
    """App B, with its own endpoint: a receiver that answers at once."""
    return Api(client, make_tenant(services, OTHER_APP_ID))


def deliver_one(backend: Any) -> int:
    """One deliverer invocation with one record (the stack's batch size)."""
    import app

    sqs, url = backend.webhook_sqs(), backend.webhook_queue_url
    return poll_once(sqs, url, lambda e: app.webhook_deliverer(e, None), max_records=1)


def deliver_all(backend: Any) -> None:
    for _ in range(100):
        if not deliver_one(backend):
            return
    raise AssertionError("the webhook queue never emptied")


def send_tests(api: Api, endpoint_id: str, n: int) -> None:
    for _ in range(n):
        assert api.call("POST", f"/v1/webhooks/{endpoint_id}/test").status_code == 202


def lateness_s(item: dict[str, Any]) -> float:
    delivered = datetime.fromisoformat(item["delivered_at"])
    return (delivered - datetime.fromisoformat(item["created_at"])).total_seconds()


def test_a_failing_endpoint_holds_one_attempt_at_a_time_and_another_apps_go_meanwhile(
    api, other, wx, backend, dead
):
    hooked = create_endpoint(api, url=DEAD)
    receiver = Receiver(wx.mock)
    theirs = create_endpoint(other)
    send_tests(api, hooked["id"], 1)
    deliver_all(backend)  # the first failure: the endpoint is failing from now on
    assert len(dead.requests) == 1
    send_tests(api, hooked["id"], 5)
    send_tests(other, theirs["id"], 3)
    dead.meanwhile = lambda: deliver_all(backend)  # a second deliverer, while one is held

    deliver_all(backend)

    assert dead.most_in_flight == 1  # the other deliverer never waited on it too
    # one probe at a time (the first event's retry came due meanwhile), then the circuit opened
    assert len(dead.requests) == CIRCUIT_AFTER
    assert len(receiver.requests) == 3
    for item in deliveries(other, theirs["id"]):
        assert item["status"] == "delivered"
        assert lateness_s(item) < 5  # not behind the 15 s the dead endpoint held a deliverer
    held = [d for d in deliveries(api, hooked["id"]) if d["attempts"] == 0]
    assert len(held) == 4
    assert all(d["status"] == "pending" and "held back" in d["last_error"] for d in held)


def test_after_failures_in_a_row_the_circuit_lets_one_attempt_through_per_backoff(
    api, backend, dead, pinned_clock
):
    hooked = create_endpoint(api, url=DEAD)
    send_tests(api, hooked["id"], 1)
    for wait_s in (0, 7, 35):  # the first attempt, then its retries 5 s and 30 s later
        pinned_clock.shift(wait_s)
        deliver_all(backend)
    assert len(dead.requests) == 3  # three failures in a row: the circuit opens for 5 s
    send_tests(api, hooked["id"], 6)
    deliver_all(backend)
    assert len(dead.requests) == 3  # all six held back, none tried
    for backoff_s in (5, 30, 120):  # after each backoff, one probe; it fails, the next is longer
        pinned_clock.shift(backoff_s * 1.25)
        deliver_all(backend)
        assert len(dead.requests) == 4 + (5, 30, 120).index(backoff_s)

    dead.alive = True  # the receiver is back: the next probe closes the circuit
    pinned_clock.shift(650)
    deliver_all(backend)
    pinned_clock.shift(60)
    deliver_all(backend)
    logged = deliveries(api, hooked["id"])
    assert [d["status"] for d in logged] == ["delivered"] * 7
    assert sum(d["attempts"] for d in logged) == len(dead.requests) == 6 + 7
