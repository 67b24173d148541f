"""Scheduled sweeps: enqueue what is due (and recover lost work); drop expired credits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.layout import WORK_AT
from chalicelib.domain import clock, dispatch
from chalicelib.domain.lifecycle import Move
from chalicelib.domain.records import Message, MessageStatus
from chalicelib.domain.statistics import stats_day
from chalicelib.ports import Services, TransactionFailed
from chalicelib.services import campaign_tick
from chalicelib.services.auth import load_app
from chalicelib.services.lifecycle import MessageSteps

S = MessageStatus
PAGE = 100


@dataclass
class SweepReport:
    read: int = 0
    enqueued: int = 0
    unknown: int = 0
    expired: int = 0
    campaigns: int = 0  # campaigns the tick looked after
    lag_s: float = 0.0  # how long the oldest due message found had been due


def due_sweep(services: Services, time_left_ms: Callable[[], int] | None = None) -> SweepReport:
    """Enqueue messages due before the next sweep, each with the delay that lands it on time;
    then the campaigns' tick, within what ``time_left_ms`` (Lambda's) says is left."""
    settings = services.settings
    report = SweepReport()
    deadline = time.monotonic() + settings.sweep_time_budget_s
    now = clock.now()
    horizon = now + timedelta(seconds=settings.sweep_interval_s)
    for shard in range(settings.due_shards):
        start = None
        while time.monotonic() < deadline:
            items, start = services.store.messages.due(shard, horizon, PAGE, start)
            report.read += len(items)
            _handle_due(services, items, clock.now(), report)
            if start is None:
                break
    report.campaigns = campaign_tick.tick(services, time_left_ms).watched
    metrics.sweep_lag(report.lag_s)
    return report


def _handle_due(
    services: Services, items: list[dict[str, Any]], now: datetime, report: SweepReport
) -> None:
    to_enqueue: list[tuple[Message, int]] = []
    now_ms = now.timestamp() * 1000
    for item in items:
        message, work_at = Message.model_validate(item), int(item[WORK_AT])
        report.lag_s = max(report.lag_s, (now_ms - work_at) / 1000)
        if message.status is S.SCHEDULED:
            to_enqueue.append((message, work_at))
        elif work_at <= now_ms and message.status is S.QUEUED:
            to_enqueue.append((message, work_at))  # its SQS message was lost: enqueue again
        elif work_at <= now_ms and message.status is S.SENDING:
            report.unknown += _claim_expired(services, message, work_at, now)
    accepted = services.queue.send_batch([dispatch.envelope(m, now) for m, _ in to_enqueue])
    for index in sorted(accepted):
        message, work_at = to_enqueue[index]
        report.enqueued += _mark_queued(services, message, work_at, now)


def _steps(services: Services, message: Message, now: datetime) -> MessageSteps | None:
    app = load_app(services, message.app_id)
    return MessageSteps(services, app, message, now) if app is not None else None


def _mark_queued(services: Services, message: Message, work_at: int, now: datetime) -> int:
    """Moved, canceled or claimed meanwhile: nothing; the sender's claim absorbs the copy."""
    steps = _steps(services, message, now)
    if steps is None:
        return 0
    lease = timedelta(seconds=services.settings.enqueue_lease_s)
    if message.status is S.QUEUED:
        # Enqueued before and still not claimed: far likelier waiting in a long queue than
        # lost, so each new copy waits as long as the card has already waited (a lost one is
        # still found one lease after send_at; a backlog gets a few copies, not one a lease).
        lease = max(lease, now - message.send_at)
    enqueued = steps.transition(
        Move.ENQUEUE, work_at=max(message.send_at, now) + lease, work_at_ms=work_at
    )
    return int(steps.apply(enqueued))


def _claim_expired(services: Services, message: Message, work_at: int, now: datetime) -> int:
    """A claim older than its lease: WeChat may have delivered, so never resend (rule 4)."""
    steps = _steps(services, message, now)
    if steps is None:
        return 0
    lost = steps.transition(
        Move.EXPIRE_CLAIM,
        changes={"result": {"errmsg": "the send did not finish within its lease"}},
        work_at_ms=work_at,
    )
    if not steps.apply(lost):
        return 0
    logger.warning("claim expired; message is unknown", extra={"message_id": message.id})
    return 1


def expiry_sweep(services: Services) -> SweepReport:
    """Remove one-time credits whose validity ended, counting them as grants_expired."""
    report = SweepReport()
    now = clock.now()
    store = services.store
    for shard in range(services.settings.expiry_shards):
        for item in store.users.expired_credits(shard, now):
            report.read += 1
            app = load_app(services, item["app_id"])
            if app is None:
                continue
            day = stats_day(app, datetime.fromtimestamp(int(item["exp_at"]) / 1000, tz=UTC))
            counted = store.counters.increment(
                app.app_id, day, item["template_id"], {"grants_expired": 1}
            )
            transaction = store.transaction()
            transaction.add("credit", store.users.expire_credit(item)).add("stats", counted)
            try:
                transaction.commit()
                report.expired += 1
            except TransactionFailed as failed:
                if not failed.on("credit"):
                    raise  # not reserved or already removed since the index was read
    return report
