"""A running campaign's fan-out chains (docs/campaigns.md#fan-out-chains): the steps of the
freeze and of the sends. The moves of the campaign are applied by ``campaign_steps``, a card by
``campaign_sends``; the tick is in ``campaign_tick``, the sender's gate in ``sender_gate``.

Each phase runs one chain per shard of recipients: a chain step is one SQS message that handles
one page and enqueues the next. A step does nothing unless the campaign runs, the step's
generation is the campaign's (a resume or a new phase starts another), and its cursor is where
the chain stands; the chain moves on by a conditional write. Each recipient becomes a message
in the transaction that marks it handled, so a duplicate step, a crash after any call, or two
generations overlapping can never give anyone a second card or take a second credit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.campaigns import END
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock, dispatch
from chalicelib.domain.campaign_phases import CampaignMove
from chalicelib.domain.campaign_records import Campaign, CampaignPhase, CampaignStatus, Recipient
from chalicelib.domain.errors import NotFound
from chalicelib.domain.records import App, MessageStatus
from chalicelib.domain.statistics import stats_day
from chalicelib.ports import TransactionFailed, WriteName
from chalicelib.services.auth import load_app
from chalicelib.services.campaign_sends import create, send_times
from chalicelib.services.campaign_steps import CampaignSteps, Step, load, move_chain
from chalicelib.services.deps import Core
from chalicelib.services.templates import find_template

C, P = CampaignStatus, CampaignPhase
CAMPAIGN, RECIPIENT = WriteName.CAMPAIGN, WriteName.RECIPIENT


def handle_step(core: Core, body: dict[str, Any]) -> None:
    step = Step.of(body)
    loaded = core.store.campaigns.get(step.app_id, step.campaign_id)
    if loaded is None:
        return
    campaign = loaded.campaign
    current = campaign.status is C.RUNNING and campaign.stopped_at is None
    if not (current and step.stands_in(loaded)):
        return  # paused, canceled, a newer generation, or a duplicate of a step already done
    app = load_app(core, step.app_id)
    if app is None:
        return
    if campaign.phase is P.FREEZE:
        _freeze_step(core, app, campaign, step)
    elif campaign.phase in (P.TEST, P.SEND):
        _send_step(core, app, campaign, step)


def _freeze_step(core: Core, app: App, campaign: Campaign, step: Step) -> None:
    """Copy one page of the holders index into recipients, with the audience count, at once."""
    store, now = core.store, clock.now()
    items, after = store.campaigns.holders(
        campaign.app_id,
        campaign.template_id,
        step.shard,
        core.settings.campaign_page,
        step.cursor,
    )
    assert campaign.started_at is not None
    valid_at = campaign.send_at or campaign.started_at
    since = _active_since(app, campaign, campaign.started_at)
    holders = [i["openid"] for i in items if _holds(i, campaign.started_at, valid_at, since)]
    names = {RECIPIENT.of(openid): Recipient(openid=openid) for openid in holders}
    while True:
        transaction = store.transaction()
        for name, recipient in names.items():
            transaction.add(name, store.campaigns.new_recipient(campaign, recipient))
        moved = store.campaigns.advance(campaign, step.shard, step.cursor, after, now, len(names))
        transaction.add(CAMPAIGN, moved)
        try:
            transaction.commit()
            break
        except TransactionFailed as failed:
            if failed.on(CAMPAIGN):
                return  # a duplicate step, or the campaign moved on
            # A user whose credits straddle two pages is a recipient already: counted once.
            names = {n: r for n, r in names.items() if n not in failed.failed}
    _next(core, campaign, step, after)


def _holds(
    item: dict[str, Any], started_at: datetime, valid_at: datetime, active_since: str | None
) -> bool:
    """Held at the start, still valid when the campaign sends, and by a user active on
    ``active_since`` or later (the entry's last active day, kept there by the activity)."""
    granted = item.get("granted_at")
    if granted and datetime.fromisoformat(granted) > started_at:
        return False
    if active_since is not None and str(item.get("active_day") or "") < active_since:
        return False
    expires = item.get("expires_at")
    return not expires or datetime.fromisoformat(expires) > valid_at


def _active_since(app: App, campaign: Campaign, started_at: datetime) -> str | None:
    """The first day of ``active_within_days`` (the app's calendar) before the start."""
    if campaign.active_within_days is None:
        return None
    return stats_day(app, started_at - timedelta(days=campaign.active_within_days))


def _send_step(core: Core, app: App, campaign: Campaign, step: Step) -> None:
    store, now = core.store, clock.now()
    recipients, after = store.campaigns.pending(
        campaign,
        step.shard,
        rules.step_size(campaign, core.settings.campaign_page),
        step.cursor,
    )
    taking = [r for r in recipients if rules.takes_part(campaign, r.openid)]
    times = send_times(core, campaign, step, len(taking), now)
    if times is None:
        return  # ahead of the throttle: this step comes back later
    try:
        template = find_template(core, app.app_id, campaign.template_id)
    except NotFound:
        # The template was deleted: nobody else gets a card, the pending count as canceled.
        logger.warning("campaign template deleted", extra={"campaign_id": campaign.campaign_id})
        CampaignSteps(core, campaign, now).apply(CampaignMove.STOP)
        return
    written = [
        create(core, app, template, campaign, recipient, send_at)
        for recipient, send_at in zip(taking, times, strict=True)
    ]
    metrics.campaign_cards(app.app_id, sum(m is not None for m in written))
    queued = [m for m in written if m is not None and m.status is MessageStatus.QUEUED]
    # A card the queue did not take waits on the needs-work index: the due sweep sends it.
    core.queue.send_batch([dispatch.envelope(m, clock.now()) for m in queued])
    if move_chain(core, campaign, step, after):
        _next(core, campaign, step, after)


def _next(core: Core, campaign: Campaign, step: Step, after: str) -> None:
    if after != END:
        core.queue.send(step.after(after).envelope())
        return
    loaded = load(core, campaign.app_id, campaign.campaign_id)
    if loaded.chains_done() and loaded.campaign.phase is P.FREEZE:
        CampaignSteps(core, loaded.campaign, clock.now()).apply(CampaignMove.FROZEN)
