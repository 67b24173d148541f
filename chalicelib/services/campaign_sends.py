"""A recipient's card in a campaign's send step (docs/campaigns.md#exactly-once-per-recipient):
its time on the throttle's slots, then its message, written with the recipient handled, once."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock
from chalicelib.domain.campaign_records import Campaign, Recipient, RecipientState
from chalicelib.domain.campaigns import CampaignCounter as CC
from chalicelib.domain.errors import GrantExpiresBeforeSendAt, NoGrant, OptedOut
from chalicelib.domain.records import App, Message, Template
from chalicelib.domain.statistics import stats_day
from chalicelib.ports import Name, WriteName
from chalicelib.services.campaign_steps import Step
from chalicelib.services.commands import NewMessage
from chalicelib.services.deps import Core
from chalicelib.services.message_create import CampaignPart, RecipientHandled, create_card

RECIPIENT, PROGRESS = WriteName.RECIPIENT, WriteName.PROGRESS


def send_times(
    core: Core, campaign: Campaign, step: Step, count: int, now: datetime
) -> list[datetime] | None:
    """When each of ``count`` cards goes: at the campaign's time, or on the throttle's slots
    (None: the slots run ahead of the clock by more than the look-ahead; the step waits)."""
    at = max(now, campaign.send_at or now)
    if campaign.rate_per_minute is None or count == 0:
        return [at] * count
    now_us = clock.epoch_ms(now) * 1000
    ahead_us = (campaign.next_slot_us or now_us) - now_us
    lookahead_us = core.settings.campaign_lookahead_s * 1_000_000
    if ahead_us > lookahead_us:
        wait_s = math.ceil((ahead_us - lookahead_us) / 1_000_000)
        core.queue.send(step.envelope(wait_s))
        return None
    interval = rules.slot_interval_us(campaign.rate_per_minute)
    end = core.store.campaigns.take_slots(campaign, count, interval, now_us)
    return [
        datetime.fromtimestamp(us / 1_000_000, tz=UTC)
        for us in rules.slot_times_us(end, count, interval)
    ]


def create(
    core: Core,
    app: App,
    template: Template,
    campaign: Campaign,
    recipient: Recipient,
    send_at: datetime,
) -> Message | None:
    """The recipient's message, or its skip (None): once."""
    store = core.store
    variant = rules.variant_for(campaign, recipient.openid)
    name = variant.name if variant else None
    counted = name or rules.NO_VARIANT
    day = stats_day(app, clock.now())

    def writes(message: Message) -> dict[Name, Any]:
        handled = store.campaigns.recipient_handled(
            campaign, recipient.openid, RecipientState.CREATED, name, message.id
        )
        progress = store.campaigns.count(
            app.app_id, campaign.campaign_id, day, counted, {CC.CREATED: 1, CC.REQUESTED: 1}
        )
        return {RECIPIENT: handled, PROGRESS: progress}

    card = NewMessage(
        openid=recipient.openid,
        template_id=template.template_id,
        data=rules.message_data(campaign, variant, recipient.data),
        page=rules.message_page(campaign, variant),
        best_time_within_hours=campaign.best_time_within_hours or None,
    )
    part = CampaignPart(campaign.campaign_id, name, writes)
    try:
        return create_card(core, app, template, card, send_at, part)
    except RecipientHandled:
        return None
    except (NoGrant, GrantExpiresBeforeSendAt):
        state, reason = RecipientState.NO_GRANT, "no_grant"
    except OptedOut:
        state, reason = RecipientState.OPTED_OUT, "opted_out"
    skipped = store.campaigns.recipient_handled(campaign, recipient.openid, state, name)
    counts = {CC.CREATED: 1, rules.skipped(reason): 1}
    progress = store.campaigns.count(app.app_id, campaign.campaign_id, day, counted, counts)
    # lost: another copy of the step handled the recipient first
    store.transaction().add(RECIPIENT, skipped).add(PROGRESS, progress).commit_unless_lost(
        RECIPIENT
    )
    return None
