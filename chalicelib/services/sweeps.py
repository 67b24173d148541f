"""Scheduled sweeps: enqueue what is due (and recover lost work); drop expired credits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.observability import logger
from chalicelib.adapters.store import ConditionFailed, TransactionCanceled
from chalicelib.adapters.store.layout import WORK_AT
from chalicelib.bootstrap import Services
from chalicelib.domain import clock
from chalicelib.domain.records import Message, MessageStatus
from chalicelib.services import dispatch
from chalicelib.services.auth import load_app
from chalicelib.services.stats import stats_day

S = MessageStatus
PAGE = 100


@dataclass
class SweepReport:
    read: int = 0
    enqueued: int = 0
    unknown: int = 0
    expired: int = 0


def due_sweep(services: Services, time_budget_s: float = 15.0) -> SweepReport:
    """Enqueue messages due before the next sweep, each with the delay that lands it on time."""
    settings = services.settings
    report = SweepReport()
    deadline = time.monotonic() + time_budget_s
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
    return report


def _handle_due(
    services: Services, items: list[dict[str, Any]], now: datetime, report: SweepReport
) -> None:
    to_enqueue: list[tuple[Message, int]] = []
    for item in items:
        message, work_at = Message.model_validate(item), int(item[WORK_AT])
        if message.status is S.SCHEDULED:
            to_enqueue.append((message, work_at))
        elif work_at <= now.timestamp() * 1000 and message.status is S.QUEUED:
            to_enqueue.append((message, work_at))  # its SQS message was lost: enqueue again
        elif work_at <= now.timestamp() * 1000 and message.status is S.SENDING:
            report.unknown += _claim_expired(services, message, work_at, now)
    accepted = services.queue.send_batch([dispatch.envelope(m, now) for m, _ in to_enqueue])
    for index in sorted(accepted):
        message, work_at = to_enqueue[index]
        report.enqueued += _mark_queued(services, message, work_at, now)


def _mark_queued(services: Services, message: Message, work_at: int, now: datetime) -> int:
    lease = timedelta(seconds=services.settings.enqueue_lease_s)
    update = services.store.messages.transition(
        message.id,
        from_=(message.status,),
        to=S.QUEUED,
        now=now,
        work_at=max(message.send_at, now) + lease,
        expect={WORK_AT: work_at},
    )
    try:
        services.store.messages.apply(update)
        return 1
    except ConditionFailed:
        return 0  # moved, canceled or claimed meanwhile; the sender's claim absorbs the copy


def _claim_expired(services: Services, message: Message, work_at: int, now: datetime) -> int:
    """A claim older than its lease: WeChat may have delivered, so never resend (SPEC §4.4)."""
    retention = services.settings.retention_days * 86400
    update = services.store.messages.transition(
        message.id,
        from_=(S.SENDING,),
        to=S.UNKNOWN,
        now=now,
        expect={WORK_AT: work_at},
        fields={"result": {"errmsg": "the send did not finish within its lease"}},
        purge_at=int(now.timestamp()) + retention,
    )
    try:
        services.store.messages.apply(update)
    except ConditionFailed:
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
            operations = [
                store.users.expire_credit_op(item),
                store.counters.increment_op(
                    app.app_id,
                    stats_day(app, _expired_at(item)),
                    item["template_id"],
                    {"grants_expired": 1},
                ),
            ]
            try:
                store.db.transact(operations)
                report.expired += 1
            except TransactionCanceled as canceled:
                if 0 not in canceled.failed:
                    raise  # reserved or already removed since the index was read
    return report


def _expired_at(item: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(item["exp_at"]) / 1000, tz=UTC)
