"""A message after its creation, through the API and WeChat's callback: read, list, move,
cancel, track, and a delivery failure reported late. Every move is one of the lifecycle's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters import metrics
from chalicelib.domain import campaigns, clock, dispatch, engagement
from chalicelib.domain.campaigns import CampaignCounter
from chalicelib.domain.errors import (
    GrantExpiresBeforeSendAt,
    NotCancelable,
    NotFound,
)
from chalicelib.domain.lifecycle import Move
from chalicelib.domain.records import (
    DELIVERED_STATUSES,
    App,
    Category,
    Message,
    MessageStatus,
)
from chalicelib.domain.statistics import Counter, stats_day
from chalicelib.domain.webhooks import EventType
from chalicelib.ports import WriteName
from chalicelib.services import activity
from chalicelib.services.commands import ListMessages, TrackEvent
from chalicelib.services.deps import Core
from chalicelib.services.lifecycle import MessageSteps
from chalicelib.services.message_create import enqueue, scheduled_at
from chalicelib.services.reservation import work_at
from chalicelib.services.webhook_outbox import Outbox

S = MessageStatus

EVENT_WRITES = (WriteName.MESSAGE, WriteName.STATS, WriteName.CAMPAIGN, WriteName.ENGAGEMENT)


def get(core: Core, app: App, message_id: str) -> Message:
    message = core.store.messages.get(message_id) if message_id.startswith("msg_") else None
    if message is None or message.app_id != app.app_id:
        raise NotFound(f"Message {message_id} does not exist.")
    return message


def list_for_user(
    core: Core, app: App, openid: str, query: ListMessages
) -> tuple[list[Message], str | None]:
    return core.store.messages.list_for_user(
        app.app_id, openid, query.status, query.limit, query.cursor
    )


def cancel(core: Core, app: App, message_id: str) -> Message:
    message = get(core, app, message_id)
    if message.status is S.CANCELED:
        return message
    steps = MessageSteps(core, app, message, clock.now())
    if not steps.apply(steps.transition(Move.CANCEL)):
        raise NotCancelable(f"Message {message_id} is already being sent or finished.")
    return message.model_copy(update={"status": S.CANCELED})


def reschedule(core: Core, app: App, message_id: str, requested: datetime) -> Message:
    message = get(core, app, message_id)
    if message.status is not S.SCHEDULED:
        raise NotCancelable(f"Message {message_id} can only be moved while scheduled.")
    now = clock.now()
    send_at = scheduled_at(core, requested, now)
    credit = message.credit
    if credit is not None and credit.expires_at is not None and credit.expires_at <= send_at:
        raise GrantExpiresBeforeSendAt("The reserved grant expires before the new send_at.")
    soon = dispatch.within_lookahead(send_at, now, core.settings.sweep_interval_s)
    moved = message.model_copy(
        update={"send_at": send_at, "status": S.QUEUED if soon else S.SCHEDULED}
    )
    steps = MessageSteps(core, app, message, now)
    transition = steps.transition(
        Move.RESCHEDULE,
        moved.status,
        work_at=work_at(core, moved),
        changes={"send_at": send_at},
        send_at_ms=clock.epoch_ms(message.send_at),
    )
    if not steps.apply(transition):
        raise NotCancelable(f"Message {message_id} is no longer scheduled.")
    if soon:
        enqueue(core, moved, now)
    return moved


def track(core: Core, app: App, message_id: str, event: TrackEvent) -> bool:
    """Record a click or conversion; True when it was the first of its type on a card WeChat
    took (and counted). An event on a card never sent is not counted."""
    message = get(core, app, message_id)
    if message.status not in DELIVERED_STATUSES:
        return False
    now = clock.now()
    moment, counter = (
        ("clicked_at", Counter.CLICKED)
        if event.type == "click"
        else ("converted_at", Counter.CONVERTED)
    )
    fields: dict[str, Any] = {moment: now.isoformat()}
    if event.value is not None:
        fields["conversion_value"] = str(event.value)
    store = core.store
    transaction = store.transaction().add(
        WriteName.MESSAGE, store.messages.first_event(message.id, moment, fields)
    )
    day = stats_day(app, now)
    transaction.add(
        WriteName.STATS,
        store.counters.increment(app.app_id, day, message.template_id, {counter: 1}),
    )
    if message.campaign_id is not None:
        variant = message.variant or campaigns.NO_VARIANT
        progress = store.campaigns.count(
            app.app_id, message.campaign_id, day, variant, {CampaignCounter(counter.value): 1}
        )
        transaction.add(WriteName.CAMPAIGN, progress)
    clicked = None
    if event.type == "click":
        clicked = engagement.tally([now], message.user_timezone or app.timezone)
        marketing = message.category is Category.MARKETING
        transaction.add(
            WriteName.ENGAGEMENT,
            store.engagement.clicked(app.app_id, message.openid, now, clicked, marketing),
        )
    outbox = Outbox(core, app.app_id, now)
    tracked = message.model_copy(update={moment: now})
    kind = EventType.MESSAGE_CLICKED if event.type == "click" else EventType.MESSAGE_CONVERTED
    outbox.into(transaction, outbox.message(kind, tracked))
    if transaction.commit_unless_lost(*EVENT_WRITES):  # the first event of its kind counts
        return False
    outbox.committed()
    metrics.card_tracked(app.app_id, event.type)
    if clicked is not None:
        activity.app_also_active(core, app, clicked, shard_of=message.openid)
        activity.mark_active(core, app, message.openid, day)
    return True


def delivery_failed(core: Core, app: App, msgid: int, errcode: int, status: str) -> None:
    """WeChat reported later that a card it accepted was not delivered: sent becomes failed."""
    store = core.store
    message_id = store.messages.find_by_msgid(app.app_id, msgid)
    message = store.messages.get(message_id) if message_id else None
    if message is None or message.app_id != app.app_id:
        return
    steps = MessageSteps(core, app, message, clock.now())
    result = {**message.result.model_dump(exclude_none=True), "errcode": errcode, "errmsg": status}
    # Counted on the day it was counted as sent: that day's sent becomes failed.
    steps.apply(
        steps.transition(Move.FAIL_LATE, changes={"result": result}),
        stats_moment=message.sent_at or steps.now,
    )
