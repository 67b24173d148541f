"""Creating a message: validate, reserve a credit and write the message in one transaction.

One Query loads the user's partition; one transaction takes the earliest credit still valid at
``send_at``, puts the message and the idempotency key and counts ``requested``. A lost race
retries with the next credit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from pydantic import BaseModel

from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.counters import Protected
from chalicelib.adapters.store.rate_limits import Window
from chalicelib.adapters.store.table import Write
from chalicelib.api.schemas import MessageIn
from chalicelib.domain import clock, dispatch, keywords, policy
from chalicelib.domain.errors import (
    FieldProblem,
    GrantExpiresBeforeSendAt,
    IdempotencyKeyMismatch,
    NoGrant,
    NotFound,
    OptedOut,
    RateLimited,
    SubmsgError,
    ValidationFailed,
)
from chalicelib.domain.records import (
    App,
    Credit,
    Message,
    MessageStatus,
    Template,
    TemplateKind,
    UserState,
)
from chalicelib.domain.statistics import Counter, stats_day
from chalicelib.ports import (
    Name,
    QueueUnavailable,
    Services,
    Transaction,
    TransactionFailed,
    WriteName,
)
from chalicelib.services import activity, rate_limit
from chalicelib.services.templates import find_template

S = MessageStatus
CREDIT, MESSAGE, IDEMPOTENCY = WriteName.CREDIT, WriteName.MESSAGE, WriteName.IDEMPOTENCY
RECIPIENT = WriteName.RECIPIENT


def idempotency_key(header: str | None) -> str | None:
    """The Idempotency-Key header, if any: 1 to 255 visible ASCII characters."""
    if header is None:
        return None
    if not 1 <= len(header) <= 255 or not header.isascii() or not header.isprintable():
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            [FieldProblem("Idempotency-Key", "must be 1 to 255 visible ASCII characters")],
        )
    return header


def body_hash(body: BaseModel) -> str:
    """The request as the idempotency record remembers it."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Replay(Exception):
    """The idempotency key was used before: answer with the first message."""


@dataclass(frozen=True)
class CampaignPart:
    """What a campaign's message adds to its reservation: its campaign and variant, and the
    campaign's own writes (the recipient handled once, the campaign's counters)."""

    campaign_id: str
    variant: str | None
    writes: Callable[[Message], Mapping[Name, Write]]


class RecipientHandled(Exception):
    """The campaign's recipient was handled already (a duplicate page): nothing was written."""


@dataclass(frozen=True)
class _Draft:
    """A valid request to send, before a credit is reserved for it."""

    app: App
    template: Template
    body: MessageIn
    send_at: datetime
    now: datetime
    idempotency_key: str | None = None
    digest: str = ""
    campaign: CampaignPart | None = None
    send_time_reason: str | None = None
    rate: Window | None = None  # where the request counts against the app's rate limit

    @property
    def urgent(self) -> bool:
        return self.body.urgent and self.campaign is None


def create(
    services: Services, app: App, body: MessageIn, idempotency_key: str | None
) -> tuple[Message, bool]:
    """Reserve a credit and write the message; (message, False) for a replayed idempotency key.

    The request counts against the app's rate limit: in the reservation's transaction when one
    commits, on its own otherwise (a refused or replayed request counts too).
    """
    now = clock.now()
    digest = body_hash(body)
    try:
        template = find_template(services, app.app_id, body.template_id)
        send_at = scheduled_at(services, body.send_at, now)
        problems = keywords.validate_data(template.keywords, body.data)
        if problems:
            raise ValidationFailed("Some keyword values break WeChat's rules.", problems)
        message = _reserve(
            services, _Draft(app, template, body, send_at, now, idempotency_key, digest)
        )
    except (SubmsgError, _Replay) as error:
        if not isinstance(error, RateLimited):
            rate_limit.charge(services, app, now)
        replayed = _replayed(services, app, idempotency_key, digest, now)
        if replayed is not None:
            return replayed, False
        if isinstance(error, _Replay):  # its message was erased a moment ago with its user
            raise NotFound("The message this Idempotency-Key created no longer exists.") from error
        raise
    if message.status is S.QUEUED:
        enqueue(services, message, now)
    return message, True


def create_for_campaign(
    services: Services,
    app: App,
    template: Template,
    body: MessageIn,
    send_at: datetime,
    campaign: CampaignPart,
) -> Message:
    """A campaign recipient's message, through the same reservation as any other; NoGrant,
    OptedOut or GrantExpiresBeforeSendAt when it cannot be, RecipientHandled for a duplicate.
    The caller enqueues it (a page's messages go to SQS in batches)."""
    now = clock.now()
    return _reserve(services, _Draft(app, template, body, send_at, now, campaign=campaign))


def scheduled_at(services: Services, requested: datetime | None, now: datetime) -> datetime:
    """When a message is due: now for none or a past instant, refused beyond the limit."""
    if requested is None or requested <= now:
        return now
    ahead = services.settings.max_schedule_ahead_days
    if requested > now + timedelta(days=ahead):
        raise ValidationFailed(
            "send_at is too far ahead.", [FieldProblem("send_at", f"more than {ahead} days ahead")]
        )
    return clock.to_utc_ms(requested)


def _reserve(services: Services, draft: _Draft) -> Message:
    """One Query for the user, then one transaction per candidate credit until one holds. A
    conflict never lands here (the store retries it): only a credit another request really took
    moves on to the next one, and only when none is left is it ``no_grant``."""
    store, template = services.store, draft.template
    if draft.campaign is None:
        draft = replace(draft, rate=rate_limit.window(services, draft.app, draft.now))
    state = store.users.load(draft.app.app_id, draft.body.openid)
    if policy.opted_out(state.preferences, template.category, template.template_id):
        raise OptedOut("The user opted out of this message.")
    if draft.body.best_time is not None:
        draft = _at_best_time(services, draft, state, draft.body.best_time.within_hours)
    for credit in _candidates(draft, state):
        message = _new_message(services, draft, credit, state.preferences.timezone)
        try:
            rate_limit.commit_counted(
                services, draft.app, draft.rate, partial(_reservation, services, draft, message)
            )
        except TransactionFailed as failed:
            if failed.on(IDEMPOTENCY):
                raise _Replay from failed
            if failed.on(RECIPIENT):
                raise RecipientHandled from failed
            if not failed.on(CREDIT):
                raise
            continue  # another request took this credit; the next one may still be free
        metrics.card_requested(draft.app.app_id)
        return message
    raise NoGrant("The user has no unused grant for this template.")


def _at_best_time(services: Services, draft: _Draft, state: UserState, within: int) -> _Draft:
    send_at, reason = activity.best_time(
        services, draft.app, draft.template, state, within, draft.urgent, draft.now
    )
    return replace(draft, send_at=clock.to_utc_ms(send_at), send_time_reason=reason.value)


def _candidates(draft: _Draft, state: UserState) -> list[Credit | None]:
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
    services: Services, draft: _Draft, credit: Credit | None, user_timezone: str | None
) -> Message:
    app, template, body = draft.app, draft.template, draft.body
    queued = dispatch.within_lookahead(draft.send_at, draft.now, services.settings.sweep_interval_s)
    return Message(
        id=clock.new_id("msg"),
        app_id=app.app_id,
        openid=body.openid,
        template_id=template.template_id,
        kind=template.kind,
        category=template.category,
        data=body.data,
        page=body.page or template.default_page,
        lang=body.lang or app.lang,
        miniprogram_state=app.miniprogram_state,
        urgent=draft.urgent,
        user_timezone=user_timezone,
        send_at=draft.send_at,
        send_time_reason=draft.send_time_reason,
        status=S.QUEUED if queued else S.SCHEDULED,
        credit=credit,
        created_at=draft.now,
        idempotency_key=draft.idempotency_key,
        campaign_id=draft.campaign.campaign_id if draft.campaign else None,
        variant=draft.campaign.variant if draft.campaign else None,
    )


def work_at(services: Services, message: Message) -> datetime:
    """When the sweep should look at it: at send_at, or after the lease of its enqueue."""
    if message.status is S.QUEUED:
        return message.send_at + timedelta(seconds=services.settings.enqueue_lease_s)
    return message.send_at


def _reservation(
    services: Services, draft: _Draft, message: Message, rate: Window | None
) -> Transaction:
    """Take the credit, write the message and the idempotency key, count it (and the request
    on ``rate``'s shard of the app's rate limit): all or nothing."""
    store, app_id = services.store, draft.app.app_id
    transaction = store.transaction()
    if message.credit is not None:
        transaction.add(CREDIT, store.users.take_credit(app_id, message.openid, message.credit))
    transaction.add(MESSAGE, store.messages.create(message, work_at(services, message)))
    if draft.idempotency_key:
        claim = store.idempotency.claim(
            app_id,
            Protected.MESSAGE,
            draft.idempotency_key,
            draft.digest,
            message.id,
            draft.now,
            services.settings.idempotency_ttl_s,
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


def _replayed(
    services: Services, app: App, idempotency_key: str | None, digest: str, now: datetime
) -> Message | None:
    if not idempotency_key:
        return None
    record = services.store.idempotency.get(app.app_id, Protected.MESSAGE, idempotency_key, now)
    if record is None:
        return None
    if record["body_hash"] != digest:
        raise IdempotencyKeyMismatch("This Idempotency-Key was used with a different body.")
    return services.store.messages.get(record["created_id"])


def enqueue(services: Services, message: Message, now: datetime) -> None:
    try:
        services.queue.send(dispatch.envelope(message, now))
    except QueueUnavailable:
        # The message waits on the needs-work index; the next sweep enqueues it again.
        logger.warning("enqueue failed; left for the due sweep", extra={"message_id": message.id})
