"""Scheduled sweeps: enqueue what is due (and recover lost work); drop expired credits.

The due sweep's shards are swept in parallel. With a sweep queue (AWS, the local stack), the
scheduled run sends one SQS message per group of shards and each group is swept by its own
invocation of the sweep worker; without one, the run sweeps every shard itself. Either way, a
sweep's worker threads take the shards' pages round-robin (``sweep_pages``), and each page is
enqueued and marked in batches (``sweep_marks``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import deadline
from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.domain import clock, dispatch
from chalicelib.domain.records import Message
from chalicelib.domain.statistics import Counter, stats_day
from chalicelib.ports import DeadlinePassed, WriteName
from chalicelib.services import campaign_tick, shard_plan, sweep_marks, sweep_pages
from chalicelib.services.auth import load_app
from chalicelib.services.deps import Core, Sweeping

if TYPE_CHECKING:
    from chalicelib.ports import Cursor


@dataclass
class SweepReport:
    read: int = 0
    enqueued: int = 0
    unknown: int = 0
    expired: int = 0
    campaigns: int = 0  # campaigns the tick looked after
    lag_s: float = 0.0  # how long the oldest due message found had been due
    unfinished: bool = False  # stopped at the invocation's deadline; the next run goes on
    pages: int = 0  # pages of the needs-work index read
    first_shard: int = 0  # where this run started its round of the shards
    fanned_out: int = 0  # groups of shards handed to the sweep worker
    stopped: bool = False  # the time budget ended with due work left
    resumed: bool = False  # and what was left was handed on to the sweep worker at once


def due_sweep(sweeping: Sweeping, remaining_ms: Callable[[], int] | None = None) -> SweepReport:
    """The scheduled run: hand the shards' groups to the sweep worker (sweeping itself any the
    sweep queue did not take), or sweep them all here; then the campaigns' tick, within what
    ``remaining_ms`` (Lambda's) says is left."""
    core, settings = sweeping.core, sweeping.core.settings
    report = SweepReport()
    report.first_shard = int(clock.now().timestamp() // settings.sweep_interval_s)
    count = shard_plan.shards_to_read(core, shard_plan.ShardedIndex.DUE)
    report.first_shard %= count
    shards = sweep_pages.rotated(count, report.first_shard)
    if sweeping.sweep_queue is not None:
        groups = [shards[n :: settings.sweep_groups] for n in range(settings.sweep_groups)]
        groups = [group for group in groups if group]
        accepted = sweeping.sweep_queue.send_batch([dispatch.sweep_step(g) for g in groups])
        report.fanned_out = len(accepted)
        shards = [s for n, group in enumerate(groups) if n not in accepted for s in group]
    if shards:
        _sweep(core, shards, remaining_ms, report)
    ticked = campaign_tick.tick(core, remaining_ms)
    report.campaigns, report.unfinished = ticked.watched, ticked.unfinished
    metrics.sweep_lag(report.lag_s)
    return report


def sweep_shards(
    sweeping: Sweeping, shards: list[int], remaining_ms: Callable[[], int] | None = None
) -> SweepReport:
    """The sweep worker: sweep ``shards``; if time runs out, hand what is left on at once."""
    report = SweepReport(first_shard=shards[0] if shards else 0)
    left = _sweep(sweeping.core, shards, remaining_ms, report)
    if left and sweeping.sweep_queue is not None:
        report.resumed = bool(sweeping.sweep_queue.send_batch([dispatch.sweep_step(left)]))
    metrics.sweep_lag(report.lag_s)
    return report


def _sweep(
    core: Core,
    shards: list[int],
    remaining_ms: Callable[[], int] | None,
    report: SweepReport,
) -> list[int]:
    """Enqueue the messages of ``shards`` due before the next sweep, each with the delay that
    lands it on time, within ``sweep_time_budget_s`` and the Lambda's remaining time less
    ``sweep_reserve_s``; the shards left unfinished when time ran out."""
    settings = core.settings
    budget = sweep_pages.Budget(
        settings.sweep_time_budget_s, remaining_ms, settings.sweep_reserve_s
    )
    horizon = clock.now() + timedelta(seconds=settings.sweep_interval_s)
    counted = threading.Lock()

    def read(shard: int, start: Cursor | None) -> tuple[list[tuple[Message, int]], Cursor | None]:
        return core.store.messages.due(shard, horizon, settings.sweep_page, start)

    def handle(found: list[tuple[Message, int]]) -> None:
        page = sweep_marks.PageReport(read=len(found))
        sweep_marks.handle_page(core, found, clock.now(), page)
        with counted:
            report.read += page.read
            report.enqueued += page.enqueued
            report.unknown += page.unknown
            report.lag_s = max(report.lag_s, page.lag_s)

    outcome = sweep_pages.sweep(
        shards, min(settings.sweep_workers, len(shards)), budget, read, handle
    )
    report.pages += outcome.pages
    report.stopped = outcome.stopped
    if outcome.stopped:
        logger.warning("due sweep stopped by its time budget", extra=vars(report))
    return outcome.unfinished


def expiry_sweep(core: Core) -> SweepReport:
    """Remove one-time credits whose validity ended, counting them as grants_expired; within the
    invocation's deadline (what is left waits for the next run, an hour later)."""
    report = SweepReport()
    now = clock.now()
    try:
        for shard in range(shard_plan.shards_to_read(core, shard_plan.ShardedIndex.EXPIRY)):
            for item in core.store.users.expired_credits(shard, now):
                if deadline.remaining_s() <= 0:
                    report.unfinished = True
                    return report
                report.read += 1
                report.expired += _expire(core, item)
    except DeadlinePassed:
        report.unfinished = True  # the table stayed busy: the next run goes on
    return report


def _expire(core: Core, item: dict[str, Any]) -> int:
    store = core.store
    app = load_app(core, item["app_id"])
    if app is None:
        return 0
    day = stats_day(app, datetime.fromtimestamp(int(item["exp_at"]) / 1000, tz=UTC))
    counted = store.counters.increment(
        app.app_id, day, item["template_id"], {Counter.GRANTS_EXPIRED: 1}
    )
    transaction = store.transaction()
    transaction.add(WriteName.CREDIT, store.users.expire_credit(item))
    transaction.add(WriteName.STATS, counted)
    # lost: reserved or already removed since the index was read
    return 0 if transaction.commit_unless_lost(WriteName.CREDIT) else 1
