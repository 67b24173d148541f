"""The deliverer: one signed attempt of one delivery, its outcome recorded, the next attempt
scheduled (domain/webhooks.py); the webhook sweep hands due deliveries to the queue again.

A delivered event costs two AWS requests: its enqueue and the update that records it (the
endpoint comes from the container's cache, a fresh first attempt goes from the queue's copy).
Any other copy reads its delivery first: one erased with its user, or settled by another copy,
is not made. The endpoint's circuit (domain/webhooks.py) holds a failing endpoint to one
attempt at a time, and to none while its backoff runs.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.adapters import metrics
from chalicelib.adapters.metrics import WebhookOutcome
from chalicelib.adapters.observability import logger
from chalicelib.domain import clock
from chalicelib.domain.dispatch import MAX_DELAY_S
from chalicelib.domain.webhooks import (
    DISABLE_AFTER,
    GONE,
    PROBE_LEASE_S,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Event,
    EventType,
    Gate,
    Subject,
    circuit_backoff,
    deferral,
    gate,
    headers,
    retry_delay,
    success,
)
from chalicelib.services import shard_plan, webhooks
from chalicelib.services.deps import Core, Delivering
from chalicelib.services.webhook_outbox import EVENT_PREFIX, hand_over


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    attempts: int
    error: str | None = None


def attempt(
    delivering: Delivering, delivery: Delivery, body: bytes, draw: float | None = None
) -> Outcome:
    """POST ``body`` (the event as rendered) to the delivery's endpoint, and record what came of
    it. ``draw`` in [0, 1) places the next attempt within the schedule's jitter.

    The endpoint's circuit comes first: an endpoint that failed is tried by one attempt at a
    time, and not at all while its backoff runs; what it holds back waits without a request.
    A copy older than a fresh first attempt is checked against the table before it goes: a
    delivery erased with its user, or settled by another copy, is not made."""
    core, now = delivering.core, clock.now()
    draw = random.random() if draw is None else draw
    number = delivery.attempts + 1
    endpoint = _endpoint(core, delivery)
    if endpoint is None or endpoint.status is EndpointStatus.DISABLED:
        reason = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
        return _settle(core, delivery, number - 1, DeliveryStatus.FAILED, None, reason, now)
    passage, until = gate(endpoint, now)
    if passage is Gate.DEFER and until is not None:
        return _defer(core, delivery, endpoint, until, now, draw)
    if not delivery.fresh(now, core.settings.webhook_fresh_s) and not _pending(core, delivery):
        logger.info("webhook delivery gone or settled", extra={"delivery": delivery.id})
        return Outcome(delivery.status, delivery.attempts, "no longer pending")
    if passage is Gate.PROBE:
        lease = now + timedelta(seconds=PROBE_LEASE_S)
        taken = core.store.webhooks.take_probe(endpoint, now, lease)
        if taken is None:
            webhooks.forget(core, endpoint.app_id)
            return _defer(core, delivery, endpoint, lease, now, draw)
        if taken.status is EndpointStatus.DISABLED:
            reason = "the endpoint is disabled"
            return _settle(core, delivery, number - 1, DeliveryStatus.FAILED, None, reason, now)
        endpoint = taken
    timestamp = int(now.timestamp())
    signed = headers(endpoint.signing_secrets(now), delivery.id, timestamp, body)
    answer = delivering.webhook_client().post(endpoint.url, body, signed)
    done = clock.now()
    if answer.status_code is not None and success(answer.status_code):
        if endpoint.failures or endpoint.failing_since or endpoint.probe_until_ms:
            core.store.webhooks.endpoint_recovered(endpoint)
            webhooks.forget(core, endpoint.app_id)
        return _settle(
            core, delivery, number, DeliveryStatus.DELIVERED, answer.status_code, None, done
        )
    error = answer.error or f"answered {answer.status_code}"
    if answer.status_code == GONE:
        webhooks.disable(core, endpoint, "the endpoint answered 410 Gone")
        return _settle(core, delivery, number, DeliveryStatus.FAILED, GONE, error, done)
    backoff = circuit_backoff(endpoint.failures + 1)
    core.store.webhooks.endpoint_failed(endpoint, done, done + backoff if backoff else None)
    webhooks.forget(core, endpoint.app_id)
    if endpoint.failing_since is not None and done - endpoint.failing_since >= DISABLE_AFTER:
        webhooks.disable(core, endpoint, "every delivery failed for 5 days")
        return _settle(
            core, delivery, number, DeliveryStatus.FAILED, answer.status_code, error, done
        )
    delay = retry_delay(number, draw)
    if delay is None:
        return _settle(
            core, delivery, number, DeliveryStatus.FAILED, answer.status_code, error, done
        )
    fields = {"last_status_code": answer.status_code, "last_error": error}
    return _later(core, delivery, number, fields, done, delay)


def _pending(core: Core, delivery: Delivery) -> bool:
    """The delivery is still there, pending, with the attempts this copy knows of."""
    found = core.store.webhooks.delivery(delivery.app_id, delivery.endpoint_id, delivery.id)
    return (
        found is not None
        and found.status is DeliveryStatus.PENDING
        and found.attempts == delivery.attempts
    )


def _defer(
    core: Core,
    delivery: Delivery,
    endpoint: Endpoint,
    until: datetime,
    now: datetime,
    draw: float,
) -> Outcome:
    """Held back by the endpoint's circuit: no request, no attempt counted; back after it."""
    error = f"held back: the endpoint's last {endpoint.failures} attempts failed"
    wait = deferral(until, now, draw)
    return _later(core, delivery, delivery.attempts, {"last_error": error}, now, wait)


def _endpoint(core: Core, delivery: Delivery) -> Endpoint | None:
    for endpoint in webhooks.endpoints_of(core, delivery.app_id):
        if endpoint.id == delivery.endpoint_id:
            return endpoint
    return None


def _settle(
    core: Core,
    delivery: Delivery,
    number: int,
    status: DeliveryStatus,
    status_code: int | None,
    error: str | None,
    now: datetime,
) -> Outcome:
    """Delivered or failed after ``number`` attempts (the delivery's own count: none made)."""
    fields: dict[str, object] = {"status": status.value, "next_attempt_at": None}
    if number > delivery.attempts:
        fields["last_status_code"] = status_code
    fields["last_error"] = error
    if status is DeliveryStatus.DELIVERED:
        fields["delivered_at"] = now
    if not core.store.webhooks.settle(delivery, number, fields):
        logger.info("webhook delivery settled already", extra={"delivery": delivery.id})
        return Outcome(status, number, error)
    delivered = status is DeliveryStatus.DELIVERED
    outcome = WebhookOutcome.DELIVERED if delivered else WebhookOutcome.FAILED
    metrics.webhook_delivery(delivery.app_id, outcome)
    return Outcome(status, number, error)


def _later(
    core: Core,
    delivery: Delivery,
    number: int,
    fields: dict[str, object],
    now: datetime,
    delay: timedelta,
) -> Outcome:
    """Pending again: through an SQS delay when it is short, else the sweep finds it."""
    next_at = now + delay
    lease = timedelta(seconds=core.settings.webhook_lease_s)
    short = delay.total_seconds() <= MAX_DELAY_S
    fields = {
        **fields,
        "next_attempt_at": next_at,
    }
    error = str(fields.get("last_error"))
    work_at = next_at + lease if short else next_at
    if not core.store.webhooks.settle(delivery, number, fields, work_at):
        logger.info("webhook delivery settled already", extra={"delivery": delivery.id})
        return Outcome(DeliveryStatus.PENDING, number, error)
    if number > delivery.attempts:
        metrics.webhook_delivery(delivery.app_id, WebhookOutcome.RETRIED)
    if short:
        updated = delivery.model_copy(update={"attempts": number})
        hand_over(core, [updated], delay_s=math.ceil(delay.total_seconds()))
    return Outcome(DeliveryStatus.PENDING, number, error)


def retry(core: Core, delivery: Delivery) -> Delivery:
    """A manual retry: delivered again at once, with the same webhook-id."""
    now = clock.now()
    reopened = core.store.webhooks.reopen(delivery, now, webhooks.lease_end(core, now))
    found = reopened or delivery
    hand_over(core, [found])
    return found


def erase_user(core: Core, app_id: str, openid: str) -> int:
    """Delete every delivery about this user, pending or settled: what was not delivered is
    never delivered (a copy on the queue finds it gone), and the log keeps no openid.

    A first attempt made within ``webhook_fresh_s`` of its event goes from the queue's copy
    unread; when such a one may still start, the erasure waits until it no longer can, so that
    after the erasure no attempt about the user begins."""
    found = core.store.webhooks.user_deliveries(app_id, openid)
    core.store.webhooks.delete([key for key, _ in found])
    fresh_s = core.settings.webhook_fresh_s
    young = [
        d.created_at
        for _, d in found
        if d.status is DeliveryStatus.PENDING and d.fresh(clock.now(), fresh_s)
    ]
    if young:
        wait = (max(young) + timedelta(seconds=fresh_s) - clock.now()).total_seconds()
        time.sleep(max(wait, 0.0) + 0.05)
    return len(found)


@dataclass
class SweepReport:
    enqueued: int = 0
    seconds: float = 0.0


def sweep(core: Core, limit: int = 100) -> SweepReport:
    """Hand every due delivery (a lost hand-over, a retry beyond SQS's delay) to the queue."""
    started, report = time.monotonic(), SweepReport()
    now = clock.now()
    until = webhooks.lease_end(core, now)
    for shard in range(shard_plan.shards_to_read(core, shard_plan.ShardedIndex.WEBHOOKS)):
        start = None
        while True:
            found, items, start = core.store.webhooks.due(shard, now, limit, start)
            taken = [
                d
                for d, item in zip(found, items, strict=True)
                if core.store.webhooks.lease(item, until)
            ]
            hand_over(core, taken)
            report.enqueued += len(taken)
            if start is None:
                break
    report.seconds = round(time.monotonic() - started, 3)
    return report


def send_test(core: Core, owner_app_id: str, endpoint: Endpoint) -> Delivery:
    """A ``webhook.test`` event to this endpoint alone (whatever types it listens for)."""
    now = clock.now()
    event = Event(
        id=clock.new_id(EVENT_PREFIX),
        app_id=owner_app_id,
        type=EventType.WEBHOOK_TEST,
        at=now,
        subject=Subject.PLAIN,
        data={"endpoint_id": endpoint.id},
    )
    delivery = Delivery.of(event, endpoint.id, now)
    core.store.webhooks.add(delivery, webhooks.lease_end(core, now))
    hand_over(core, [delivery])
    return delivery
