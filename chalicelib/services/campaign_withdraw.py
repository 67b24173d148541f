"""A campaign's cards called off (docs/campaigns.md#pause-resume-cancel): a cancel (its move is a
row of ``campaign_phases``) withdraws every card not claimed yet, at once, wherever the throttle
or ``best_time`` placed it; an erased user leaves every campaign. Either way each campaign's
books balance.

The withdrawal runs like the fan-out: one chain per shard of recipients, each step one SQS
message that reads one page of the shard's recipients who got a card, cancels those cards still
unclaimed (each with its credit refunded, counted canceled), moves the chain's cursor by a
conditional write and enqueues the next page. Its chains use the campaign item's cursors and
generation, which the cancel resets: a duplicate or stale step does nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.store.campaigns import END, Loaded
from chalicelib.adapters.store.recipients import Membership
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock
from chalicelib.domain.campaign_phases import CampaignMove
from chalicelib.domain.campaign_records import CampaignStatus, Recipient, RecipientState
from chalicelib.domain.campaigns import CampaignCounter, Progress
from chalicelib.domain.lifecycle import UNCLAIMED, Move
from chalicelib.domain.records import App
from chalicelib.domain.statistics import stats_day
from chalicelib.ports import WriteName
from chalicelib.services.auth import load_app
from chalicelib.services.campaign_steps import WITHDRAWAL_KIND, CampaignSteps, Step, move_chain
from chalicelib.services.deps import Core
from chalicelib.services.lifecycle import MessageSteps

if TYPE_CHECKING:
    from chalicelib.ports import Key

C = CampaignStatus
RECIPIENT, PROGRESS = WriteName.RECIPIENT, WriteName.PROGRESS
ERASED = {
    CampaignCounter.CREATED: 1,
    CampaignCounter.CANCELED: 1,
}  # handled, and never to get a card


def handle_step(core: Core, body: dict[str, Any]) -> None:
    """One page of a shard: its recipients' cards not claimed yet are canceled."""
    step = Step.of(body)
    store = core.store
    loaded = store.campaigns.get(step.app_id, step.campaign_id)
    if loaded is None:
        return
    campaign = loaded.campaign
    current = campaign.status is C.CANCELED and step.stands_in(loaded)
    app = load_app(core, step.app_id) if current else None
    if app is None:
        return  # a duplicate or a stale step
    page = core.settings.campaign_page
    written, after = store.campaigns.pending(
        campaign, step.shard, page, step.cursor, RecipientState.CREATED
    )
    ids = [r.message_id for r in written if r.message_id is not None]
    cancel_unclaimed(core, app, ids, clock.now())
    if move_chain(core, campaign, step, after) and after != END:
        core.queue.send(step.after(after).envelope(kind=WITHDRAWAL_KIND))


def settled(core: Core, loaded: Loaded, done: Progress, now: datetime) -> bool:
    """The tick's look at a canceled campaign: whether its books can close. Meanwhile a stalled
    chain goes on in a new generation; and once fan-out steps under way at the cancel had their
    lease to end, a last pass withdraws the cards they may have written behind the chains."""
    campaign, settings = loaded.campaign, core.settings
    if not loaded.chains_done():
        stalled = timedelta(seconds=settings.enqueue_lease_s + settings.lease_s)
        if campaign.chained_at is None or now - campaign.chained_at > stalled:
            CampaignSteps(core, campaign, now).apply(CampaignMove.RESTART)
        return False
    steps_ended = (campaign.stopped_at or now) + timedelta(seconds=settings.lease_s)
    if now < steps_ended:
        return False
    if done.finished >= done.totals[CampaignCounter.CREATED]:
        return True
    if campaign.withdrawn_at is None or campaign.withdrawn_at < steps_ended:
        CampaignSteps(core, campaign, now).apply(CampaignMove.WITHDRAW_AGAIN)
    return False


def leave_campaigns(core: Core, app: App, openid: str, now: datetime) -> list[Key]:
    """The user leaves every campaign of the app: a recipient still waiting is counted canceled
    as its record goes, a card not claimed yet is canceled with its credit refunded. The keys
    of the user's recipient records, for the erasure to delete."""
    memberships = core.store.campaigns.memberships(app.app_id, openid)
    written: list[str] = []
    for membership in memberships:
        recipient = membership.recipient
        if recipient is not None and recipient.state is RecipientState.PENDING:
            recipient = _erase_pending(core, app, membership, now)
        if recipient is not None and recipient.message_id is not None:
            written.append(recipient.message_id)
    cancel_unclaimed(core, app, written, now)
    return [membership.key for membership in memberships]


def _erase_pending(core: Core, app: App, membership: Membership, now: datetime) -> Recipient | None:
    """Delete the waiting recipient and count it canceled, in one transaction; the record as it
    is now when a fan-out step handled it meanwhile (None: gone)."""
    store = core.store
    counted = store.campaigns.count(
        app.app_id, membership.campaign_id, stats_day(app, now), rules.NO_VARIANT, ERASED
    )
    transaction = store.transaction()
    transaction.add(RECIPIENT, store.campaigns.pending_erased(membership.key))
    if transaction.add(PROGRESS, counted).commit_unless_lost(RECIPIENT):
        return store.campaigns.recipient_at(membership.key)
    return None


def cancel_unclaimed(core: Core, app: App, message_ids: list[str], now: datetime) -> int:
    """Cancel those of the messages not claimed by the sender yet, each with its credit
    refunded and counted canceled by its campaign; how many were."""
    canceled = 0
    for message in core.store.messages.get_many(message_ids):
        if message.status in UNCLAIMED and message.app_id == app.app_id:
            steps = MessageSteps(core, app, message, now)
            canceled += steps.apply(steps.transition(Move.CANCEL))
    return canceled
