"""Creating a message: validate the request, reserve a credit for it (``services.reservation``)
and hand it to the queue when it is due soon; a replayed idempotency key answers the first
message.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from pydantic import BaseModel

from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.counters import Protected
from chalicelib.domain import clock, dispatch, keywords
from chalicelib.domain.errors import (
    FieldProblem,
    IdempotencyKeyMismatch,
    NotFound,
    RateLimited,
    SubmsgError,
    ValidationFailed,
)
from chalicelib.domain.records import App, Message, MessageStatus, Template
from chalicelib.ports import QueueUnavailable
from chalicelib.services import rate_limit
from chalicelib.services.commands import Idempotent, NewMessage
from chalicelib.services.deps import Core
from chalicelib.services.reservation import CampaignPart as CampaignPart
from chalicelib.services.reservation import Draft, Replay, reserve
from chalicelib.services.reservation import RecipientHandled as RecipientHandled
from chalicelib.services.templates import find_template

S = MessageStatus


def body_hash(body: BaseModel) -> str:
    """The request as the idempotency record remembers it."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create(
    core: Core, app: App, card: NewMessage, idempotent: Idempotent | None
) -> tuple[Message, bool]:
    """Reserve a credit and write the message; (message, False) for a replayed idempotency key.

    The request counts against the app's rate limit: in the reservation's transaction when one
    commits, on its own otherwise (a refused or replayed request counts too).
    """
    now = clock.now()
    try:
        template = find_template(core, app.app_id, card.template_id)
        send_at = scheduled_at(core, card.send_at, now)
        problems = keywords.validate_data(template.keywords, card.data)
        if problems:
            raise ValidationFailed("Some keyword values break WeChat's rules.", problems)
        message = reserve(core, Draft(app, template, card, send_at, now, idempotent))
    except (SubmsgError, Replay) as error:
        if not isinstance(error, RateLimited):
            rate_limit.charge(core, app, now)
        replayed = _replayed(core, app, idempotent, now)
        if replayed is not None:
            return replayed, False
        if isinstance(error, Replay):  # its message was erased a moment ago with its user
            raise NotFound("The message this Idempotency-Key created no longer exists.") from error
        raise
    if message.status is S.QUEUED:
        enqueue(core, message, now)
    return message, True


def create_card(
    core: Core,
    app: App,
    template: Template,
    card: NewMessage,
    send_at: datetime,
    campaign: CampaignPart,
) -> Message:
    """A campaign recipient's message, through the same reservation as any other; NoGrant,
    OptedOut or GrantExpiresBeforeSendAt when it cannot be, RecipientHandled for a duplicate.
    The caller enqueues it (a page's messages go to SQS in batches)."""
    now = clock.now()
    return reserve(core, Draft(app, template, card, send_at, now, campaign=campaign))


def scheduled_at(core: Core, requested: datetime | None, now: datetime) -> datetime:
    """When a message is due: now for none or a past instant, refused beyond the limit."""
    if requested is None or requested <= now:
        return now
    ahead = core.settings.max_schedule_ahead_days
    if requested > now + timedelta(days=ahead):
        raise ValidationFailed(
            "send_at is too far ahead.", [FieldProblem("send_at", f"more than {ahead} days ahead")]
        )
    return clock.to_utc_ms(requested)


def _replayed(core: Core, app: App, idempotent: Idempotent | None, now: datetime) -> Message | None:
    if idempotent is None:
        return None
    record = core.store.idempotency.get(app.app_id, Protected.MESSAGE, idempotent.key, now)
    if record is None:
        return None
    if record["body_hash"] != idempotent.request_hash:
        raise IdempotencyKeyMismatch("This Idempotency-Key was used with a different body.")
    return core.store.messages.get(record["created_id"])


def enqueue(core: Core, message: Message, now: datetime) -> None:
    try:
        core.queue.send(dispatch.envelope(message, now))
    except QueueUnavailable:
        # The message waits on the needs-work index; the next sweep enqueues it again.
        logger.warning("enqueue failed; left for the due sweep", extra={"message_id": message.id})
