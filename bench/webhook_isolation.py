"""One app's dead endpoint against another app's deliveries, on a virtual clock.

App A has a backlog of events for an endpoint that never answers (each attempt holds a
deliverer for the 15 s it waits); app B sends an event every 2 s to an endpoint that answers
at once. ``SLOTS`` deliverers (the stack's ``WebhookReservedConcurrency``) take one record at a
time from the webhook queue (moto in process, the real deliverer handler). An attempt at A's
endpoint lets the other deliverers work through the 15 s it waits, then times out: so the
deliverers overlap as Lambda's copies do, and no run waits a real second. The figure is how
late B's events are delivered, with the endpoint circuit and, for comparison, without it.
"""

from __future__ import annotations

import heapq
import json
import math
import statistics
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import requests
import responses
import time_machine

from bench.harness import Pipeline, aws_environment

DEAD = "https://dead.bench.example/hooks"
ALIVE = "https://alive.bench.example/hooks"
OTHER_APP_ID = "wx00000000000000bf"
START = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)
SLOTS = 5
HANG_S = 15.0
WORK_S = 0.05  # what a record that does not wait on a receiver takes
IDLE_S = 0.5  # an idle deliverer asks the queue again after this
BACKLOG = 100  # app A's events waiting when its endpoint dies
EVERY_S = 2.0  # app B sends one event this often ...
WINDOW_S = 240.0  # ... for this long


@dataclass
class IsolationFigures:
    circuit: bool
    other_events: int
    other_delivered: int  # within the run (the window and 60 s more)
    other_late_p50_s: float
    other_late_p99_s: float
    other_late_max_s: float
    dead_attempts: int
    most_in_flight: int


class Clockwork:
    """Threads that take turns on a virtual clock: one runs at a time, the one that wakes
    first; ``sleep_until`` hands the turn on and moves the clock to whoever wakes next."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller
        self.lock = threading.Condition()
        self.waiting: list[tuple[float, int, str]] = []
        self.turn = "main"
        self.order = 0

    def now(self) -> float:
        return datetime.now(UTC).timestamp()

    def sleep_until(self, token: str, moment: float) -> None:
        with self.lock:
            self._wait(token, moment)
            self._hand_on()
            while self.turn != token:
                self.lock.wait()

    def register(self, token: str, moment: float) -> None:
        with self.lock:
            self._wait(token, moment)
            while self.turn != token:
                self.lock.wait()

    def leave(self) -> None:
        with self.lock:
            self._hand_on()

    def _wait(self, token: str, moment: float) -> None:
        self.order += 1
        heapq.heappush(self.waiting, (max(moment, self.now()), self.order, token))
        self.lock.notify_all()

    def _hand_on(self) -> None:
        moment, _, token = heapq.heappop(self.waiting)
        if math.isfinite(moment) and moment > self.now():
            self.traveller.move_to(datetime.fromtimestamp(moment, UTC))
        self.turn = token
        self.lock.notify_all()


class Deliverers:
    """``SLOTS`` deliverers, each its own thread on the virtual clock, and B's arrivals."""

    def __init__(self, clockwork: Clockwork, queue_url: str, arrive: Callable[[], None]) -> None:
        self.clock, self.queue_url, self.arrive = clockwork, queue_url, arrive
        self.sqs = boto3.client("sqs")
        self.end = START.timestamp() + WINDOW_S + 60
        self.dead_attempts = self.in_flight = self.most_in_flight = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        threads = [threading.Thread(target=self._deliverer, args=(n,)) for n in range(SLOTS)]
        threads.append(threading.Thread(target=self._arrivals))
        for thread in threads:
            thread.start()
        with self.clock.lock:
            while len(self.clock.waiting) < len(threads):
                self.clock.lock.wait()
        self.clock.sleep_until("main", math.inf)  # every other thread has left
        for thread in threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _deliverer(self, n: int) -> None:
        import app
        from local.poller import poll_once

        token = f"slot{n}"
        self.clock.register(token, START.timestamp())
        try:
            while self.clock.now() < self.end and not self.errors:
                handled = poll_once(
                    self.sqs,
                    self.queue_url,
                    lambda e: app.webhook_deliverer(e, None),
                    max_records=1,
                )
                wait = WORK_S if handled else IDLE_S
                self.clock.sleep_until(token, self.clock.now() + wait)
        except BaseException as error:  # reported by run(), once every thread left
            self.errors.append(error)
        self.clock.leave()

    def _arrivals(self) -> None:
        self.clock.register("arrivals", START.timestamp() + 1)
        try:
            for n in range(int(WINDOW_S / EVERY_S)):
                self.clock.sleep_until("arrivals", START.timestamp() + 1 + n * EVERY_S)
                if self.errors:
                    break
                self.arrive()
        except BaseException as error:
            self.errors.append(error)
        self.clock.leave()

    def hang(self, request: Any) -> Any:
        """A's receiver: the deliverer whose turn it is waits 15 s for nothing; the others go
        on meanwhile. (The attempt runs in the client's own thread, on that deliverer's turn.)"""
        token = self.clock.turn
        self.dead_attempts += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.clock.sleep_until(token, self.clock.now() + HANG_S)
        self.in_flight -= 1
        raise requests.exceptions.ReadTimeout("no answer")


@contextmanager
def without_circuit(circuit: bool) -> Iterator[None]:
    """The comparison: every attempt goes, whatever the endpoint's failures."""
    if circuit:
        yield
        return
    from chalicelib.domain.webhooks import Gate
    from chalicelib.services import webhook_delivery

    original = webhook_delivery.gate
    webhook_delivery.gate = lambda endpoint, now: (Gate.PASS, None)  # type: ignore[assignment]
    try:
        yield
    finally:
        webhook_delivery.gate = original  # type: ignore[assignment]


def measure(circuit: bool = True) -> IsolationFigures:
    from chalicelib import bootstrap

    with (
        aws_environment("bench-isolation") as resources,
        responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
        time_machine.travel(START, tick=False) as traveller,
        without_circuit(circuit),
    ):
        pipeline = Pipeline(resources)
        # the virtual 15 s are the deliverer's wait; the client's own deadline is in real time
        bootstrap.services().delivering.webhook_client().deadline_s = 3600.0
        other = _other_app()
        dead = pipeline._call("POST", "/v1/webhooks", {"url": DEAD})["id"]
        alive = _call(pipeline, other, "POST", "/v1/webhooks", {"url": ALIVE})["id"]
        deliverers = Deliverers(
            Clockwork(traveller),
            resources.webhook_queue_url,
            lambda: _call(pipeline, other, "POST", f"/v1/webhooks/{alive}/test", None),
        )
        mock.add(responses.POST, ALIVE, status=204)
        mock.add_callback(responses.POST, DEAD, callback=deliverers.hang)
        for _ in range(BACKLOG):
            pipeline._call("POST", f"/v1/webhooks/{dead}/test", None)
        deliverers.run()
        late = sorted(_late_s(item) for item in _log(pipeline, other, alive))
    return IsolationFigures(
        circuit=circuit,
        other_events=len(late),
        other_delivered=sum(math.isfinite(n) for n in late),
        other_late_p50_s=statistics.median(late),
        other_late_p99_s=late[min(len(late) - 1, math.ceil(0.99 * len(late)) - 1)],
        other_late_max_s=late[-1],
        dead_attempts=deliverers.dead_attempts,
        most_in_flight=deliverers.most_in_flight,
    )


def _log(pipeline: Pipeline, headers: dict[str, str], endpoint_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        path = f"/v1/webhooks/{endpoint_id}/deliveries?limit=100{cursor}"
        page = _call(pipeline, headers, "GET", path, None)
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = f"&cursor={page['next_cursor']}"


def _other_app() -> dict[str, str]:
    from chalicelib import bootstrap
    from chalicelib.services import admin

    app = admin.new_app(OTHER_APP_ID, "Bench B", requests_per_second=100_000)
    key = admin.create_app(bootstrap.services().app_secrets, app, "bench-secret-b")
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _call(pipeline: Pipeline, headers: dict[str, str], method: str, path: str, body: Any) -> Any:
    payload = json.dumps(body).encode() if body is not None else b""
    answer = pipeline.client.http.request(method, path, body=payload, headers=headers)
    if answer.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.body!r}")
    return answer.json_body


def _late_s(item: dict[str, Any]) -> float:
    if item["delivered_at"] is None:
        return math.inf
    delivered = datetime.fromisoformat(item["delivered_at"])
    return (delivered - datetime.fromisoformat(item["created_at"])) / timedelta(seconds=1)
