"""A campaign's card at the sender (docs/campaigns.md#pause-resume-cancel): held back while its
campaign is paused or stopped, and, when quiet hours defer it, given a new slot of its campaign's
throttle. The campaign is read through a short cache, so a pause is seen within
``campaign_status_cache_s`` at one read per container and campaign, not one per card."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from chalicelib.domain import campaigns as rules
from chalicelib.domain.campaign_records import CampaignStatus
from chalicelib.domain.lifecycle import Move
from chalicelib.domain.records import Message
from chalicelib.ports import WriteName
from chalicelib.services.deps import Sending
from chalicelib.services.lifecycle import MessageSteps

C = CampaignStatus
RECIPIENT, PAUSED = WriteName.RECIPIENT, WriteName.STILL_PAUSED


class Seen(NamedTuple):
    """What the sender needs to know of a card's campaign."""

    status: CampaignStatus
    stopped: bool
    rate_per_minute: int | None


GONE = Seen(C.CANCELED, True, None)


def held_back(sending: Sending, steps: MessageSteps) -> bool:
    """Whether a campaign's card must not go now: its campaign paused (the message is withdrawn
    and its recipient waits for the resume) or stopped (the message is canceled). Read through a
    short cache, so a pause is seen within ``campaign_status_cache_s``."""
    message = steps.message
    if message.campaign_id is None:
        return False
    status, stopped, _ = _seen(sending, message.app_id, message.campaign_id)
    if status is C.RUNNING and not stopped:
        return False
    if status is C.PAUSED and not stopped:
        store = sending.core.store
        back = store.campaigns.recipient_back(
            message.campaign_id, message.app_id, message.openid, message.id
        )
        still = store.campaigns.still_paused(message.app_id, message.campaign_id)
        withdrawn = steps.transition(Move.WITHDRAW)
        lost = steps.apply_unless_lost(withdrawn, PAUSED, extra={RECIPIENT: back, PAUSED: still})
        if lost is PAUSED:
            return False  # resumed meanwhile (the cache was behind): the card goes now
    else:
        steps.apply(steps.transition(Move.CANCEL))
    return True


def deferred_send_at(sending: Sending, message: Message, until: datetime) -> datetime:
    """When a card deferred by quiet hours goes: at their end, or, a throttled campaign's card,
    on a new slot of its campaign's throttle at or after it, so that the cards deferred to the
    same end keep the campaign's pace."""
    if message.campaign_id is None:
        return until
    rate = _seen(sending, message.app_id, message.campaign_id).rate_per_minute
    if rate is None:
        return until
    slot = sending.core.store.campaigns.take_slot_from(
        message.app_id, message.campaign_id, rules.epoch_us(until), rules.slot_interval_us(rate)
    )
    return rules.slot_moment(slot)


def _seen(sending: Sending, app_id: str, campaign_id: str) -> Seen:
    def load() -> Seen | None:
        found = sending.core.store.campaigns.get(app_id, campaign_id)
        if found is None:
            return None
        campaign = found.campaign
        return Seen(campaign.status, campaign.stopped_at is not None, campaign.rate_per_minute)

    return sending.campaign_statuses.get((app_id, campaign_id), load) or GONE
