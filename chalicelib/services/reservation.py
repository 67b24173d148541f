"""A card's reservation: one Query loads the user's partition; one transaction takes the
earliest credit still valid at ``send_at``, puts the message (and the idempotency key, and a
campaign's own writes) and counts ``requested``. A lost race retries with the next credit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from chalicelib.adapters import metrics
from chalicelib.adapters.store.counters import Protected
from chalicelib.adapters.store.rate_limits import Window
from chalicelib.domain import clock, dispatch, policy
from chalicelib.domain.errors import GrantExpiresBeforeSendAt, NoGrant, OptedOut
from chalicelib.domain.records import App, Credit, Message, MessageStatus, Template, TemplateKind
from chalicelib.domain.statistics import Counter, stats_day
from chalicelib.domain.users import UserState
from chalicelib.ports import Name, Transaction, TransactionFailed, WriteName
from chalicelib.services import activity, rate_limit
from chalicelib.services.commands import Idempotent, NewMessage
from chalicelib.services.deps import Core

if TYPE_CHECKING:
    from chalicelib.ports import Write

S = MessageStatus
CREDIT, MESSAGE, IDEMPOTENCY = WriteName.CREDIT, WriteName.MESSAGE, WriteName.IDEMPOTENCY
RECIPIENT = WriteName.RECIPIENT


class Replay(Exception):
    """The idempotency key was used before: answer with the first message."""


class RecipientHandled(Exception):
    """The campaign's recipient was handled already (a duplicate page): nothing was written."""


@dataclass(frozen=True)
class CampaignPart:
    """What a campaign's message adds to its reservation: its campaign and variant, and the
    campaign's own writes (the recipient handled once, the campaign's counters)."""

    campaign_id: str
    variant: str | None
    writes: Callable[[Message], Mapping[Name, Write]]


@dataclass(frozen=True)
class Draft:
    """A valid request to send, before a credit is reserved for it."""

    app: App
    template: Template
    card: NewMessage
    send_at: datetime
    now: datetime
    idempotent: Idempotent | None = None
    campaign: CampaignPart | None = None
    send_time_reason: str | None = None
    rate: Window | None = None  # where the request counts against the app's rate limit

    @property
    def urgent(self) -> bool:
        return self.card.urgent and self.campaign is None


def reserve(core: Core, draft: Draft) -> Message:
    """One Query for the user, then one transaction per candidate credit until one holds. A
    conflict never lands here (the store retries it): only a credit another request really took
    moves on to the next one, and only when none is left is it ``no_grant``."""
    store, template = core.store, draft.template
    if draft.campaign is None:
        draft = replace(draft, rate=rate_limit.window(core, draft.app, draft.now))
    state = store.users.load(draft.app.app_id, draft.card.openid)
    if policy.opted_out(state.preferences, template.category, template.template_id):
        raise OptedOut("The user opted out of this message.")
    if draft.card.best_time_within_hours is not None:
        draft = _at_best_time(core, draft, state, draft.card.best_time_within_hours)
    for credit in _candidates(draft, state):
        message = _new_message(core, draft, credit, state.preferences.timezone)
        try:
            rate_limit.commit_counted(
                core, draft.app, draft.rate, partial(_reservation, core, draft, message)
            )
        except TransactionFailed as failed:
            if failed.on(IDEMPOTENCY):
                raise Replay from failed
            if failed.on(RECIPIENT):
                raise RecipientHandled from failed
            if not failed.on(CREDIT):
                raise
            continue  # another request took this credit; the next one may still be free
        metrics.card_requested(draft.app.app_id)
        return message
    raise NoGrant("The user has no unused grant for this template.")


def _at_best_time(core: Core, draft: Draft, state: UserState, within: int) -> Draft:
    send_at, reason = activity.best_time(
        core, draft.app, draft.template, state, within, draft.urgent, draft.now
    )
    return replace(draft, send_at=clock.to_utc_ms(send_at), send_time_reason=reason.value)


def _candidates(draft: Draft, state: UserState) -> list[Credit | None]:
    """The credits to try, earliest-expiring first; [None] for a long-term template."""
    template_id = draft.template.template_id
    if draft.template.kind is TemplateKind.LONG_TERM:
        grant = state.grants.get(template_id)
        if grant is None or grant.long_term != "active":
            raise NoGrant("The user has no active long-term subscription to this template.")
        return [None]
    candidates: list[Credit | None] = list(state.usable_credits(template_id, draft.send_at))
    if not candidates:
        if state.usable_credits(template_id, draft.now):
            raise GrantExpiresBeforeSendAt("Every grant of the user expires before send_at.")
        raise NoGrant("The user has no unused grant for this template.")
    return candidates


def _new_message(
    core: Core, draft: Draft, credit: Credit | None, user_timezone: str | None
) -> Message:
    app, template, card = draft.app, draft.template, draft.card
    queued = dispatch.within_lookahead(draft.send_at, draft.now, core.settings.sweep_interval_s)
    return Message(
        id=clock.new_id("msg"),
        app_id=app.app_id,
        openid=card.openid,
        template_id=template.template_id,
        kind=template.kind,
        category=template.category,
        data=dict(card.data),
        page=card.page or template.default_page,
        lang=card.lang or app.lang,
        miniprogram_state=app.miniprogram_state,
        urgent=draft.urgent,
        user_timezone=user_timezone,
        send_at=draft.send_at,
        send_time_reason=draft.send_time_reason,
        status=S.QUEUED if queued else S.SCHEDULED,
        credit=credit,
        created_at=draft.now,
        idempotency_key=draft.idempotent.key if draft.idempotent else None,
        campaign_id=draft.campaign.campaign_id if draft.campaign else None,
        variant=draft.campaign.variant if draft.campaign else None,
    )


def work_at(core: Core, message: Message) -> datetime:
    """When the sweep should look at it: at send_at, or after the lease of its enqueue."""
    if message.status is S.QUEUED:
        return message.send_at + timedelta(seconds=core.settings.enqueue_lease_s)
    return message.send_at


def _reservation(core: Core, draft: Draft, message: Message, rate: Window | None) -> Transaction:
    """Take the credit, write the message and the idempotency key, count it (and the request
    on ``rate``'s shard of the app's rate limit): all or nothing."""
    store, app_id = core.store, draft.app.app_id
    transaction = store.transaction()
    if message.credit is not None:
        transaction.add(CREDIT, store.users.take_credit(app_id, message.openid, message.credit))
    transaction.add(MESSAGE, store.messages.create(message, work_at(core, message)))
    if draft.idempotent is not None:
        claim = store.idempotency.claim(
            app_id,
            Protected.MESSAGE,
            draft.idempotent.key,
            draft.idempotent.request_hash,
            message.id,
            draft.now,
            core.settings.idempotency_ttl_s,
        )
        transaction.add(IDEMPOTENCY, claim)
    if rate is not None:
        transaction.add(rate_limit.RATE, store.rate_limits.taken(rate))
    if draft.campaign is not None:
        for name, write in draft.campaign.writes(message).items():
            transaction.add(name, write)
    day = stats_day(draft.app, draft.now)
    transaction.add(
        WriteName.STATS,
        store.counters.increment(app_id, day, message.template_id, {Counter.REQUESTED: 1}),
    )
    return transaction
