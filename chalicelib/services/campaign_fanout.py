"""A running campaign: fan-out chains through SQS and the throttle
(docs/campaigns.md#fan-out-chains). The tick is in ``campaign_tick``, the sender's look at a card's
campaign in ``campaign_cards``.

Each phase runs one chain per shard of recipients: a chain step is one SQS message that handles
one page and enqueues the next. A step does nothing unless the campaign runs, the step's
generation is the campaign's (a resume or a new phase starts another), and its cursor is where
the chain stands; the chain moves on by a conditional write. Each recipient becomes a message
in the transaction that marks it handled, so a duplicate step, a crash after any call, or two
generations overlapping can never give anyone a second card or take a second credit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.campaigns import END, Loaded
from chalicelib.adapters.store.layout import epoch_ms
from chalicelib.adapters.store.table import Write
from chalicelib.api.schemas import BestTimeIn, MessageIn
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock, dispatch
from chalicelib.domain.campaigns import CampaignCounter as CC
from chalicelib.domain.campaigns import CampaignMove, Progress
from chalicelib.domain.dispatch import MAX_DELAY_S, Envelope
from chalicelib.domain.errors import (
    GrantExpiresBeforeSendAt,
    InvalidCampaignState,
    NoGrant,
    NotFound,
    OptedOut,
)
from chalicelib.domain.records import (
    App,
    Campaign,
    CampaignPhase,
    CampaignStatus,
    Message,
    MessageStatus,
    Recipient,
    RecipientState,
    Template,
)
from chalicelib.domain.statistics import stats_day
from chalicelib.ports import Name, Services, Transaction, TransactionFailed, WriteName
from chalicelib.services.auth import load_app
from chalicelib.services.message_create import (
    CampaignPart,
    RecipientHandled,
    create_for_campaign,
)
from chalicelib.services.templates import find_template

C, P = CampaignStatus, CampaignPhase
PAGE_KIND = "campaign_page"
CAMPAIGN, RECIPIENT, PROGRESS = WriteName.CAMPAIGN, WriteName.RECIPIENT, WriteName.PROGRESS


@dataclass(frozen=True)
class Step:
    """One SQS message of a chain: which page of which shard, for which generation."""

    app_id: str
    campaign_id: str
    shard: int
    generation: int
    cursor: str

    def envelope(self, delay_s: int = 0, kind: str = PAGE_KIND) -> Envelope:
        return Envelope({"kind": kind, **asdict(self)}, max(0, min(MAX_DELAY_S, delay_s)))

    def stands_in(self, loaded: Loaded) -> bool:
        """Of the campaign's generation, where its chain stands (not a duplicate, not stale)."""
        generation = loaded.campaign.generation
        return generation == self.generation and loaded.cursors.get(self.shard) == self.cursor

    def after(self, cursor: str) -> Step:
        return Step(self.app_id, self.campaign_id, self.shard, self.generation, cursor)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Step:
        return cls(
            str(body["app_id"]),
            str(body["campaign_id"]),
            int(body["shard"]),
            int(body["generation"]),
            str(body["cursor"]),
        )


# Starting, resuming ----------------------------------------------------------------------


def begin(
    services: Services,
    campaign: Campaign,
    now: datetime,
    sources: frozenset[CampaignStatus] = frozenset({C.DRAFT}),
) -> Campaign:
    """Run it: the first phase's chains start from the first page of every shard."""
    starts_at = max(now, campaign.send_at or now)
    changes: dict[str, Any] = {"status": C.RUNNING, "started_at": now, "chained_at": now}
    if campaign.rate_per_minute is not None:
        changes["next_slot_us"] = epoch_ms(starts_at) * 1000
    store = services.store
    transaction = store.transaction()
    phase = rules.first_phase(campaign)
    transaction.add(CAMPAIGN, store.campaigns.begin_phase(campaign, phase, changes, sources))
    transaction.add(WriteName.WATCH, store.campaigns.watch(campaign))
    commit_move(transaction, CampaignMove.START)
    return launch(services, campaign)


def resume(services: Services, campaign: Campaign, now: datetime) -> Campaign:
    """Running again. The chains start over from their first page: the recipients whose cards
    the pause withdrew are pending again, behind the cursors (those handled already cost a read
    each, nothing more). The throttle's counter stays: slots handed out before the pause still
    hold cards, and a counter left behind the clock restarts at now by itself."""
    changes: dict[str, Any] = {"status": C.RUNNING, "chained_at": now}
    store = services.store
    paused = frozenset({C.PAUSED})
    phase = rules.phase_to_resume(campaign)
    if phase is not None:
        restart = store.campaigns.begin_phase(campaign, phase, changes, paused)
    else:
        restart = store.campaigns.restart_chains(campaign, changes, paused)
    commit_move(store.transaction().add(CAMPAIGN, restart), CampaignMove.RESUME)
    return launch(services, campaign)


def commit_move(transaction: Transaction, move: CampaignMove) -> None:
    """Commit a campaign's move; 409 when the campaign moved on meanwhile."""
    if transaction.commit_unless_lost(CAMPAIGN):
        raise InvalidCampaignState(f"The campaign moved on; it cannot {move} now.")


def launch(services: Services, campaign: Campaign, kind: str = PAGE_KIND) -> Campaign:
    """Enqueue the first step of every chain still to run; a step the queue did not take is
    started again by the tick (a stalled chain)."""
    loaded = _load(services, campaign.app_id, campaign.campaign_id)
    current = loaded.campaign
    steps = [
        Step(current.app_id, current.campaign_id, shard, current.generation, cursor).envelope(
            kind=kind
        )
        for shard, cursor in loaded.cursors.items()
        if cursor != END
    ]
    if steps:
        services.queue.send_batch(steps)
    return current


def _load(services: Services, app_id: str, campaign_id: str) -> Loaded:
    loaded = services.store.campaigns.get(app_id, campaign_id)
    assert loaded is not None, "campaigns are never deleted"
    return loaded


# A chain's step --------------------------------------------------------------------------


def handle_step(services: Services, body: dict[str, Any]) -> None:
    step = Step.of(body)
    loaded = services.store.campaigns.get(step.app_id, step.campaign_id)
    if loaded is None:
        return
    campaign = loaded.campaign
    current = campaign.status is C.RUNNING and campaign.stopped_at is None
    if not (current and step.stands_in(loaded)):
        return  # paused, canceled, a newer generation, or a duplicate of a step already done
    app = load_app(services, step.app_id)
    if app is None:
        return
    if campaign.phase is P.FREEZE:
        _freeze_step(services, app, campaign, step)
    elif campaign.phase in (P.TEST, P.SEND):
        _send_step(services, app, campaign, step)


def _freeze_step(services: Services, app: App, campaign: Campaign, step: Step) -> None:
    """Copy one page of the holders index into recipients, with the audience count, at once."""
    store, now = services.store, clock.now()
    items, after = store.campaigns.holders(
        campaign.app_id,
        campaign.template_id,
        step.shard,
        services.settings.campaign_page,
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
    _next(services, campaign, step, after)


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


def _send_step(services: Services, app: App, campaign: Campaign, step: Step) -> None:
    store, now = services.store, clock.now()
    recipients, after = store.campaigns.pending(
        campaign,
        step.shard,
        rules.step_size(campaign, services.settings.campaign_page),
        step.cursor,
    )
    taking = [r for r in recipients if rules.takes_part(campaign, r.openid)]
    times = _send_times(services, campaign, step, len(taking), now)
    if times is None:
        return  # ahead of the throttle: this step comes back later
    try:
        template = find_template(services, app.app_id, campaign.template_id)
    except NotFound:
        # The template was deleted: nobody else gets a card, the pending count as canceled.
        logger.warning("campaign template deleted", extra={"campaign_id": campaign.campaign_id})
        begin_phase(services, campaign, P.FINISH, now, stopped_at=now)
        return
    written = [
        _create(services, app, template, campaign, recipient, send_at)
        for recipient, send_at in zip(taking, times, strict=True)
    ]
    metrics.campaign_cards(app.app_id, sum(m is not None for m in written))
    queued = [m for m in written if m is not None and m.status is MessageStatus.QUEUED]
    # A card the queue did not take waits on the needs-work index: the due sweep sends it.
    services.queue.send_batch([dispatch.envelope(m, clock.now()) for m in queued])
    if move_chain(services, campaign, step, after):
        _next(services, campaign, step, after)


def move_chain(services: Services, campaign: Campaign, step: Step, after: str) -> bool:
    """The step's chain moves on to ``after``; False when a duplicate or a newer generation
    moved it first."""
    store = services.store
    moved = store.campaigns.advance(campaign, step.shard, step.cursor, after, clock.now())
    return store.transaction().add(CAMPAIGN, moved).commit_unless_lost(CAMPAIGN) is None


def _send_times(
    services: Services, campaign: Campaign, step: Step, count: int, now: datetime
) -> list[datetime] | None:
    """When each of ``count`` cards goes: at the campaign's time, or on the throttle's slots
    (None: the slots run ahead of the clock by more than the look-ahead; the step waits)."""
    at = max(now, campaign.send_at or now)
    if campaign.rate_per_minute is None or count == 0:
        return [at] * count
    now_us = epoch_ms(now) * 1000
    ahead_us = (campaign.next_slot_us or now_us) - now_us
    lookahead_us = services.settings.campaign_lookahead_s * 1_000_000
    if ahead_us > lookahead_us:
        wait_s = math.ceil((ahead_us - lookahead_us) / 1_000_000)
        services.queue.send(step.envelope(wait_s))
        return None
    interval = rules.slot_interval_us(campaign.rate_per_minute)
    end = services.store.campaigns.take_slots(campaign, count, interval, now_us)
    return [
        datetime.fromtimestamp(us / 1_000_000, tz=UTC)
        for us in rules.slot_times_us(end, count, interval)
    ]


def _next(services: Services, campaign: Campaign, step: Step, after: str) -> None:
    if after != END:
        services.queue.send(step.after(after).envelope())
        return
    loaded = _load(services, campaign.app_id, campaign.campaign_id)
    if loaded.chains_done() and loaded.campaign.phase is P.FREEZE:
        begin_phase(services, loaded.campaign, rules.after_freeze(campaign), clock.now())


def _create(
    services: Services,
    app: App,
    template: Template,
    campaign: Campaign,
    recipient: Recipient,
    send_at: datetime,
) -> Message | None:
    """The recipient's message, or its skip (None): once."""
    store = services.store
    variant = rules.variant_for(campaign, recipient.openid)
    name = variant.name if variant else None
    counted = name or rules.NO_VARIANT
    day = stats_day(app, clock.now())

    def writes(message: Message) -> dict[str, Any]:
        handled = store.campaigns.recipient_handled(
            campaign, recipient.openid, RecipientState.CREATED, name, message.id
        )
        progress = store.campaigns.count(
            app.app_id, campaign.campaign_id, day, counted, {CC.CREATED: 1, CC.REQUESTED: 1}
        )
        return {RECIPIENT: handled, PROGRESS: progress}

    body = MessageIn(
        openid=recipient.openid,
        template_id=template.template_id,
        data=rules.message_data(campaign, variant, recipient.data),
        page=rules.message_page(campaign, variant),
        best_time=BestTimeIn(within_hours=campaign.best_time_within_hours)
        if campaign.best_time_within_hours
        else None,
    )
    part = CampaignPart(campaign.campaign_id, name, writes)
    try:
        return create_for_campaign(services, app, template, body, send_at, part)
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


def begin_phase(
    services: Services,
    campaign: Campaign,
    phase: CampaignPhase,
    now: datetime,
    extra: Mapping[Name, Write] | None = None,
    **changes: Any,
) -> bool:
    """The next phase's chains, once: a second caller finds the generation moved (False).
    ``extra``: writes committed with the move (the events it reports)."""
    store = services.store
    update = store.campaigns.begin_phase(
        campaign, phase, {"chained_at": now, **changes}, frozenset({C.RUNNING})
    )
    transaction = store.transaction().add(CAMPAIGN, update)
    for name, write in (extra or {}).items():
        transaction.add(name, write)
    if transaction.commit_unless_lost(CAMPAIGN):
        return False
    if phase in (P.TEST, P.SEND):
        launch(services, campaign)
    return True


def resume_chains(services: Services, campaign: Campaign, now: datetime) -> None:
    """A chain stopped moving (a step the queue lost): a new generation takes over."""
    store = services.store
    restart = store.campaigns.restart_chains(campaign, {"chained_at": now}, frozenset({C.RUNNING}))
    if store.transaction().add(CAMPAIGN, restart).commit_unless_lost(CAMPAIGN):
        return
    launch(services, campaign)


def progress(services: Services, campaign: Campaign) -> Progress:
    rows = [
        (item.variant, item.counts)
        for item in services.store.campaigns.counters(campaign.app_id, campaign.campaign_id)
    ]
    return Progress.of(rows)
