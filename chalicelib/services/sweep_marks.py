"""One page of the due sweep's needs-work index: what is due is enqueued, in batches of ten,
then marked queued, up to MARK_BATCH messages a transaction; expired claims become unknown.

Enqueued first, marked after (docs/exactly-once.md): a crash in between leaves a copy in SQS that
the sender's claim absorbs, and the message on the index, where a later sweep finds it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.domain import dispatch
from chalicelib.domain.lifecycle import Move, Transition
from chalicelib.domain.records import Message, MessageStatus
from chalicelib.ports import KeyedName, TransactionFailed, WriteName
from chalicelib.services.auth import load_app
from chalicelib.services.deps import Core
from chalicelib.services.lifecycle import MessageSteps

S = MessageStatus
MARK_BATCH = 25  # messages marked queued in one transaction


@dataclass
class PageReport:
    read: int = 0
    enqueued: int = 0
    unknown: int = 0
    lag_s: float = 0.0  # how long the oldest due message found had been due


def handle_page(
    core: Core, found: list[tuple[Message, int]], now: datetime, report: PageReport
) -> None:
    """One page (each message with the ``work_at`` the sweep found it at, epoch ms): what is
    due is enqueued (in batches of ten), then marked queued (in batches)."""
    to_enqueue: list[tuple[Message, int]] = []
    now_ms = now.timestamp() * 1000
    for message, work_at in found:
        report.lag_s = max(report.lag_s, (now_ms - work_at) / 1000)
        if message.status is S.SCHEDULED:
            to_enqueue.append((message, work_at))
        elif work_at <= now_ms and message.status is S.QUEUED:
            to_enqueue.append((message, work_at))  # its SQS message was lost: enqueue again
        elif work_at <= now_ms and message.status is S.SENDING:
            report.unknown += _claim_expired(core, message, work_at, now)
    if not to_enqueue:
        return
    accepted = core.queue.send_batch([dispatch.envelope(m, now) for m, _ in to_enqueue])
    enqueued = [to_enqueue[index] for index in sorted(accepted)]
    report.enqueued += mark_queued(core, enqueued, now)


def _steps(core: Core, message: Message, now: datetime) -> MessageSteps | None:
    app = load_app(core, message.app_id)
    return MessageSteps(core, app, message, now) if app is not None else None


def _enqueue_move(steps: MessageSteps, work_at: int) -> Transition:
    """The move to queued, under a lease after which a lost SQS message is enqueued again."""
    message, now = steps.message, steps.now
    lease = timedelta(seconds=steps.core.settings.enqueue_lease_s)
    if message.status is S.QUEUED:
        # Enqueued before and still not claimed: far likelier waiting in a long queue than
        # lost, so each new copy waits as long as the card has already waited (a lost one is
        # still found one lease after send_at; a backlog gets a few copies, not one a lease).
        lease = max(lease, now - message.send_at)
    return steps.transition(
        Move.ENQUEUE, work_at=max(message.send_at, now) + lease, work_at_ms=work_at
    )


def mark_queued(core: Core, enqueued: list[tuple[Message, int]], now: datetime) -> int:
    """Mark what SQS took as queued; how many moved. A message moved, canceled or claimed
    meanwhile is left as it is."""
    moves: list[tuple[MessageSteps, Transition]] = []
    for message, work_at in enqueued:
        steps = _steps(core, message, now)
        if steps is not None:
            moves.append((steps, _enqueue_move(steps, work_at)))
    marked = 0
    for first in range(0, len(moves), MARK_BATCH):
        marked += _mark_batch(core, moves[first : first + MARK_BATCH])
    return marked


def _mark_batch(core: Core, moves: list[tuple[MessageSteps, Transition]]) -> int:
    waiting = {steps.message.id: (steps, move) for steps, move in moves}
    for steps, move in moves:
        if len(steps.writes(move)) > 1:  # a move with effects: its own transaction
            del waiting[steps.message.id]
    marked = sum(int(steps.apply(move)) for steps, move in moves if steps.message.id not in waiting)
    while waiting:
        transaction = core.store.transaction()
        for message_id, (_, move) in waiting.items():
            transaction.add(WriteName.MESSAGE.of(message_id), core.store.messages.moved(move))
        try:
            transaction.commit()
        except TransactionFailed as failed:
            moved_on = {name.key for name in failed.failed if isinstance(name, KeyedName)}
            moved_on &= waiting.keys()
            if not moved_on:  # a conflict only: each on its own, a loser stays as it is
                return marked + sum(_mark_alone(steps, move) for steps, move in waiting.values())
            for message_id in moved_on:
                del waiting[message_id]  # moved, canceled or claimed meanwhile
            continue
        for steps, move in waiting.values():
            metrics.card_moved(steps.app.app_id, move, steps.message.send_at)
        return marked + len(waiting)
    return marked


def _mark_alone(steps: MessageSteps, move: Transition) -> int:
    """Unmarked, the message is enqueued again by a later sweep: a copy the claim absorbs."""
    try:
        return int(steps.apply(move))
    except TransactionFailed:
        return 0


def _claim_expired(core: Core, message: Message, work_at: int, now: datetime) -> int:
    """A claim older than its lease: WeChat may have delivered, so never resend (rule 4)."""
    steps = _steps(core, message, now)
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
