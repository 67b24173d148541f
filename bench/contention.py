"""Hot items under concurrency: where the per-app rate limit is counted, measured three ways.

Concurrent ``POST /v1/messages`` of one app (each to its own user, so no two reservations want
the same credit) run on the embedded AWS; every DynamoDB write is recorded with the items it
touches and the moment it was in flight. DynamoDB cancels a transaction that touches an item
another transaction is writing (``TransactionConflict``) and refuses a single-item write on such
an item; the embedded AWS serialises them, so the bench counts the overlaps instead: two writes
in flight at once that share an item, at least one of them a transaction, would have conflicted.

The three layouts: the second's counter as one item inside the reservation (as it was), spread
over ``RateLimits.SHARDS`` items inside the reservation (as it is), and one item counted by its
own write before the reservation.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client

from bench.harness import APP_ID, TEMPLATE, Pipeline, aws_environment, wechat_accepting_everything

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
LAYOUTS = ("one item in the reservation", "spread in the reservation", "own write before")


@dataclass
class Write:
    transaction: bool
    keys: frozenset[tuple[str, str]]
    started: float
    ended: float


@dataclass
class Recorder:
    writes: list[Write] = field(default_factory=list)
    calls: int = 0
    active: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _keys(operation: str, params: dict[str, Any]) -> frozenset[tuple[str, str]]:
    found = []
    parts = params.get("TransactItems") or [{operation: params}]
    for part in parts:
        for request in part.values():
            key = request.get("Key") or request.get("Item") or {}
            found.append((key["pk"]["S"], key["sk"]["S"]))
    return frozenset(found)


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if not recorder.active or self.meta.service_model.service_name != "dynamodb":
            return original(self, operation, params)
        started = time.perf_counter()
        try:
            return original(self, operation, params)
        finally:
            ended = time.perf_counter()
            with recorder.lock:
                recorder.calls += 1
                if operation in WRITES:
                    transaction = operation == "TransactWriteItems"
                    keys = _keys(operation, params)
                    recorder.writes.append(Write(transaction, keys, started, ended))

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


@dataclass
class LayoutFigures:
    layout: str
    cards: int
    dynamodb_calls_per_card: float
    writes_per_card: float
    conflicts: int  # writes that met a transaction in flight on one of their items
    on_rate_items: int  # of those, meetings on a rate-limit item
    hottest_key_writes: int  # writes to the busiest partition key over the run
    seconds: float

    @property
    def conflicts_per_100_cards(self) -> float:
        return 100 * self.conflicts / self.cards


def _conflicts(writes: list[Write]) -> tuple[int, int]:
    """Writes that overlapped a transaction in flight on a shared item, and how many of those
    met on a rate-limit item."""
    ordered = sorted(writes, key=lambda w: w.started)
    met, on_rate = set(), set()
    for n, first in enumerate(ordered):
        for second in ordered[n + 1 :]:
            if second.started >= first.ended:
                break
            shared = first.keys & second.keys
            if shared and (first.transaction or second.transaction):
                met.add(id(second))
                if any(pk.startswith("RATE#") for pk, _ in shared):
                    on_rate.add(id(second))
    return len(met), len(on_rate)


def _out_of_reservation() -> Callable[[], None]:
    """The rate limit counted by its own write before the reservation (the layout not chosen)."""
    from chalicelib.services import rate_limit

    original = rate_limit.window

    def counted_first(core: Any, app: Any, now: Any) -> None:
        rate_limit.charge(core, app, now)
        return None

    rate_limit.window = counted_first  # type: ignore[assignment]

    def restore() -> None:
        rate_limit.window = original

    return restore


def measure_layout(layout: str, cards: int = 160, workers: int = 16) -> LayoutFigures:
    from chalicelib import bootstrap
    from chalicelib.adapters.store import rate_limits
    from chalicelib.services import message_create
    from chalicelib.services.auth import load_app
    from chalicelib.services.commands import NewMessage

    openids = [f"oContention{n:06d}" for n in range(cards)]
    restore = None
    # as it was: the app's counters over 8 items; as it is: over 16 partition keys
    os.environ["SUBMSG_STATS_SHARDS"] = "8" if layout == LAYOUTS[0] else "16"
    with (
        aws_environment(f"bench-contention-{LAYOUTS.index(layout)}") as resources,
        wechat_accepting_everything(),
        recording() as recorder,
    ):
        pipeline = Pipeline(resources)
        for openid in openids:
            pipeline._call(
                "POST", "/v1/grants", {"openid": openid, "results": {TEMPLATE: "accept"}}
            )
        services = bootstrap.services()
        if layout == LAYOUTS[0]:
            services.core.store.rate_limits.shards = 1
        elif layout == LAYOUTS[2]:
            services.core.store.rate_limits.shards = 1
            restore = _out_of_reservation()
        else:
            services.core.store.rate_limits.shards = rate_limits.SHARDS
        app = load_app(services.core, APP_ID)
        assert app is not None
        message_create.create(  # warm the caches
            services.core,
            app,
            NewMessage(openid=openids[0], template_id=TEMPLATE, data={"thing1": "x"}),
            None,
        )

        def send(openid: str) -> None:
            body = NewMessage(openid=openid, template_id=TEMPLATE, data={"thing1": "Blue mug"})
            message_create.create(services.core, app, body, None)

        recorder.active = True
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(send, openids[1:]))
        finally:
            recorder.active = False
            os.environ.pop("SUBMSG_STATS_SHARDS", None)
            if restore:
                restore()
        seconds = time.perf_counter() - started
    sent = len(openids) - 1
    conflicts, on_rate = _conflicts(recorder.writes)
    per_key = Counter(pk for w in recorder.writes for pk in {pk for pk, _ in w.keys})
    return LayoutFigures(
        layout=layout,
        cards=sent,
        dynamodb_calls_per_card=recorder.calls / sent,
        writes_per_card=len(recorder.writes) / sent,
        conflicts=conflicts,
        on_rate_items=on_rate,
        hottest_key_writes=max(per_key.values()),
        seconds=seconds,
    )


def measure(cards: int = 160, workers: int = 16) -> list[LayoutFigures]:
    return [measure_layout(layout, cards, workers) for layout in LAYOUTS]
