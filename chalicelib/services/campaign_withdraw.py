"""A campaign's cards called off (SPEC §10): an erased user leaves every campaign, so that each
campaign's books still close."""

from __future__ import annotations

from datetime import datetime

from chalicelib.adapters.store.campaigns import Membership
from chalicelib.adapters.store.table import Key
from chalicelib.domain import campaigns as rules
from chalicelib.domain.lifecycle import UNCLAIMED, Move
from chalicelib.domain.records import App, Recipient, RecipientState
from chalicelib.domain.statistics import stats_day
from chalicelib.ports import Services, TransactionFailed
from chalicelib.services.lifecycle import MessageSteps

RECIPIENT, PROGRESS = "recipient", "progress"
ERASED = {"created": 1, "canceled": 1}  # handled, and never to get a card


def leave_campaigns(services: Services, app: App, openid: str, now: datetime) -> list[Key]:
    """The user leaves every campaign of the app: a recipient still waiting is counted canceled
    as its record goes, a card not claimed yet is canceled with its credit refunded. The keys
    of the user's recipient records, for the erasure to delete."""
    memberships = services.store.campaigns.memberships(app.app_id, openid)
    written: list[str] = []
    for membership in memberships:
        recipient = membership.recipient
        if recipient is not None and recipient.state is RecipientState.PENDING:
            recipient = _erase_pending(services, app, membership, now)
        if recipient is not None and recipient.message_id is not None:
            written.append(recipient.message_id)
    cancel_unclaimed(services, app, written, now)
    return [membership.key for membership in memberships]


def _erase_pending(
    services: Services, app: App, membership: Membership, now: datetime
) -> Recipient | None:
    """Delete the waiting recipient and count it canceled, in one transaction; the record as it
    is now when a fan-out step handled it meanwhile (None: gone)."""
    store = services.store
    counted = store.campaigns.count(
        app.app_id, membership.campaign_id, stats_day(app, now), rules.NO_VARIANT, ERASED
    )
    transaction = store.transaction()
    transaction.add(RECIPIENT, store.campaigns.pending_erased(membership.key))
    try:
        transaction.add(PROGRESS, counted).commit()
    except TransactionFailed as failed:
        if not failed.on(RECIPIENT):
            raise
        return store.campaigns.recipient_at(membership.key)
    return None


def cancel_unclaimed(services: Services, app: App, message_ids: list[str], now: datetime) -> int:
    """Cancel those of the messages not claimed by the sender yet, each with its credit
    refunded and counted canceled by its campaign; how many were."""
    canceled = 0
    for message in services.store.messages.get_many(message_ids):
        if message.status in UNCLAIMED and message.app_id == app.app_id:
            steps = MessageSteps(services, app, message, now)
            canceled += steps.apply(steps.transition(Move.CANCEL))
    return canceled
