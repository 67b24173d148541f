"""2 000 cards through the local stack on a calm embedded AWS, then on one under load, in one run.

Each run starts `python -m local` of its own (the second with
``SUBMSG_AWS_FAULTS="conflict=0.05,throttle=0.03,lost=0.02,seed=21"``), seeds 2 000 holders, and
sends each one card now from 16 clients through ``POST /v1/messages`` (an ``Idempotency-Key``
each; a request answered 503 is sent again with it, as a client should). It is timed from the
first request until the last card reached the WeChat sandbox. Then every card is checked: each
message the API created reached the sandbox exactly once, and no card arrived for anything else.
``faults_cards_ratio`` is the cards a second under load ÷ the calm ones; the fault counts are the
embedded AWS's own (``local.aws.server.faults_injected``).
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.local_stack import (
    BENCH_REQUESTS_PER_SECOND,
    CLIENTS,
    DEMO_KEY,
    Client,
    Stack,
    _message_id,
    _seed_holders,
    _update_demo_app,
    running_stack,
)
from local.aws.server import faults_injected

CARDS = 2_000
FAULT_MIX = "conflict=0.05,throttle=0.03,lost=0.02"
SEED = 21
SEND_ATTEMPTS = 4  # a request answered 503 (busy past its deadline) is sent again, with its key
ARRIVAL_TIMEOUT_S = 120  # no new card for this long: the rest are missing
LATE_DUPLICATE_WAIT_S = 1.0  # after the last card, how long a second copy of one would have


@dataclass
class Run:
    faults: str
    cards: int
    seconds: float
    answers: Counter[int]  # HTTP status of every POST /v1/messages, retries included
    created: list[str]
    arrived: Counter[str]  # message id -> cards the sandbox received for it
    injected: dict[str, int] = field(default_factory=dict)
    met: dict[str, int] = field(default_factory=dict)

    @property
    def cards_per_s(self) -> float:
        return len(self.created) / self.seconds

    def violations(self) -> list[str]:
        """What breaks "every card exactly once, no 500", one line each."""
        found = []
        label = f"faults {self.faults or 'none'}"
        errors = {
            status: n for status, n in self.answers.items() if status >= 500 and status != 503
        }
        if errors:
            found.append(f"{label}: POST /v1/messages answered {errors}")
        if len(self.created) != self.cards:
            found.append(f"{label}: {self.cards - len(self.created)} cards never created")
        missing = [m for m in self.created if self.arrived[m] == 0]
        twice = {m: n for m, n in self.arrived.items() if n > 1}
        unknown = set(self.arrived) - set(self.created)
        if missing:
            found.append(f"{label}: {len(missing)} cards never reached WeChat, e.g. {missing[0]}")
        if twice:
            found.append(f"{label}: {len(twice)} cards reached WeChat more than once: {twice}")
        if unknown:
            found.append(f"{label}: {len(unknown)} cards reached WeChat that nobody created")
        return found


@dataclass(frozen=True)
class FaultFigures:
    calm: Run
    loaded: Run

    @property
    def ratio(self) -> float:
        return self.loaded.cards_per_s / self.calm.cards_per_s

    def violations(self) -> list[str]:
        return self.calm.violations() + self.loaded.violations()


def measure(cards: int | None = None) -> FaultFigures:
    count = cards or int(os.environ.get("BENCH_FAULT_CARDS", CARDS))
    calm = run(count, "")
    loaded = run(count, f"{FAULT_MIX},seed={SEED}")
    return FaultFigures(calm, loaded)


def run(cards: int, faults: str) -> Run:
    """``cards`` holders each sent one card now, on a stack whose AWS injects ``faults``."""
    with running_stack(environment={"SUBMSG_AWS_FAULTS": faults}) as stack:
        _update_demo_app(stack, requests_per_second=BENCH_REQUESTS_PER_SECOND)
        openids = [f"oFault{n:022d}" for n in range(cards)]
        _seed_holders(stack, stack.template, openids)
        sessions = [_session() for _ in range(CLIENTS)]
        answers: Counter[int] = Counter()

        def send(n: int) -> str | None:
            return _send(stack, sessions[n % CLIENTS], openids[n], answers)

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            created = [m for m in pool.map(send, range(cards)) if m is not None]
        arrived = _arrivals(Client(stack), len(created))
        seconds = time.perf_counter() - started
        time.sleep(LATE_DUPLICATE_WAIT_S)
        arrived = _arrivals(Client(stack), len(created), timeout_s=0)
        counts = faults_injected(stack.aws)
    return Run(
        faults=faults,
        cards=cards,
        seconds=seconds,
        answers=answers,
        created=created,
        arrived=arrived,
        injected=counts["injected"],
        met=counts["met"],
    )


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEMO_KEY}"
    return session


def _send(stack: Stack, http: requests.Session, openid: str, answers: Counter[int]) -> str | None:
    """The message's id once the API created it; None if it never answered 201."""
    body = {
        "openid": openid,
        "template_id": stack.template,
        "data": stack.data,
        "page": "pages/index/index",
    }
    key = {"Idempotency-Key": f"bench-{openid}"}
    for _ in range(SEND_ATTEMPTS):
        answer = http.post(f"{stack.api}/v1/messages", json=body, headers=key, timeout=30)
        answers[answer.status_code] += 1
        if answer.status_code == 201:
            return str(answer.json()["id"])
        if answer.status_code != 503:
            return None
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    return None


def _arrivals(client: Client, expected: int, timeout_s: float = ARRIVAL_TIMEOUT_S) -> Counter[str]:
    """Cards per message id at the sandbox, once ``expected`` arrived or none came for
    ``timeout_s``."""
    last_count, last_change = -1, time.monotonic()
    while True:
        cards: list[dict[str, Any]] = client.cards()
        if len(cards) != last_count:
            last_count, last_change = len(cards), time.monotonic()
        if len(cards) >= expected or time.monotonic() - last_change >= timeout_s:
            return Counter(_message_id(card) for card in cards)
        time.sleep(0.25)
