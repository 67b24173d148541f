"""Campaigns through the API (docs/api.md#campaigns): create, add recipients, read, start, pause,
resume, cancel. Each move is a row of ``domain/campaign_phases`` applied by ``campaign_steps``;
the checks of the audience and its data are in ``campaign_audience``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from chalicelib.adapters.store.campaigns import Loaded
from chalicelib.adapters.store.counters import Protected
from chalicelib.domain import campaign_phases as phases
from chalicelib.domain import clock
from chalicelib.domain.campaign_phases import CampaignMove
from chalicelib.domain.campaign_records import Campaign, CampaignStatus, Recipient
from chalicelib.domain.campaigns import Progress
from chalicelib.domain.errors import (
    IdempotencyKeyMismatch,
    InvalidCampaignState,
    NotFound,
)
from chalicelib.domain.records import App
from chalicelib.ports import TransactionFailed, WriteName
from chalicelib.services import campaign_audience, campaign_steps
from chalicelib.services.campaign_steps import CampaignSteps
from chalicelib.services.commands import Idempotent, NewCampaign
from chalicelib.services.deps import Core
from chalicelib.services.message_create import scheduled_at
from chalicelib.services.templates import find_template

C = CampaignStatus
PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
CAMPAIGN, IDEMPOTENCY = WriteName.CAMPAIGN, WriteName.IDEMPOTENCY


def create(
    core: Core, app: App, command: NewCampaign, idempotent: Idempotent | None
) -> tuple[Campaign, bool]:
    """A new campaign (started unless ``start`` is false); (campaign, False) for a replay."""
    now = clock.now()
    replayed = _replayed(core, app, idempotent, now)
    if replayed is not None:
        return replayed, False
    campaign_audience.check_list(command)
    template = campaign_audience.template_for(core, app, command)
    campaign = Campaign(
        campaign_id=clock.new_id("cmp"),
        app_id=app.app_id,
        name=command.name,
        template_id=template.template_id,
        audience="holders" if command.holders else "list",
        active_within_days=command.active_within_days if command.holders else None,
        data=dict(command.data),
        page=command.page,
        send_at=_send_at(core, command.send_at, now),
        rate_per_minute=command.rate_per_minute,
        best_time_within_hours=command.best_time_within_hours,
        variants=list(command.variants),
        experiment=command.experiment,
        status=C.DRAFT,
        created_at=now,
    )
    campaign_audience.check_campaign_data(template, campaign)
    listed = [Recipient(openid=openid) for openid in command.openids or ()]
    campaign_audience.check_recipients(template, campaign, listed, "audience.openids")
    store = core.store
    transaction = store.transaction().add(CAMPAIGN, store.campaigns.create(campaign))
    if idempotent is not None:
        claim = store.idempotency.claim(
            app.app_id,
            Protected.CAMPAIGN,
            idempotent.key,
            idempotent.request_hash,
            campaign.campaign_id,
            now,
            core.settings.idempotency_ttl_s,
        )
        transaction.add(IDEMPOTENCY, claim)
    if transaction.commit_unless_lost(IDEMPOTENCY):
        found = _replayed(core, app, idempotent, now)
        if found is None:
            raise TransactionFailed(frozenset({IDEMPOTENCY}))  # claimed, and gone since
        return found, False
    if listed:
        campaign_audience.add(core, template, campaign, listed, "audience.openids")
    if command.start:
        return start(core, app, campaign.campaign_id), True
    return get(core, app, campaign.campaign_id).campaign, True


def _replayed(
    core: Core, app: App, idempotent: Idempotent | None, now: datetime
) -> Campaign | None:
    if idempotent is None:
        return None
    record = core.store.idempotency.get(app.app_id, Protected.CAMPAIGN, idempotent.key, now)
    if record is None:
        return None
    if record["body_hash"] != idempotent.request_hash:
        raise IdempotencyKeyMismatch("This Idempotency-Key was used with a different body.")
    return get(core, app, record["created_id"]).campaign


def _send_at(core: Core, requested: datetime | None, now: datetime) -> datetime | None:
    if requested is None or requested <= now:
        return None
    return scheduled_at(core, requested, now)


# Recipients ------------------------------------------------------------------------------


def add_recipients(
    core: Core, app: App, campaign_id: str, recipients: Sequence[Recipient]
) -> tuple[Campaign, int]:
    """Add recipients to a draft (an openid already there counts once); how many were new."""
    campaign = get(core, app, campaign_id).campaign
    if campaign.status is not C.DRAFT:
        raise InvalidCampaignState(
            f"Recipients can only be added to a draft, not {campaign.status}."
        )
    template = find_template(core, app.app_id, campaign.template_id)
    added = campaign_audience.add(core, template, campaign, recipients, "recipients")
    return get(core, app, campaign_id).campaign, added


# Reading ---------------------------------------------------------------------------------


def get(core: Core, app: App, campaign_id: str) -> Loaded:
    found = None
    if campaign_id.startswith("cmp_") and PATH_ID.fullmatch(campaign_id):
        found = core.store.campaigns.get(app.app_id, campaign_id)
    if found is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    return found


def progress(core: Core, campaign: Campaign) -> Progress:
    return campaign_steps.progress(core, campaign)


def list_campaigns(
    core: Core, app: App, limit: int, cursor: str | None
) -> tuple[list[Campaign], str | None]:
    return core.store.campaigns.list(app.app_id, limit, cursor)


# Moves -----------------------------------------------------------------------------------


def start(core: Core, app: App, campaign_id: str) -> Campaign:
    campaign = _movable(core, app, campaign_id, CampaignMove.START)
    if campaign.audience == "list" and campaign.audience_size == 0:
        raise InvalidCampaignState(
            "A list campaign without recipients cannot start: add them through "
            f"POST /v1/campaigns/{campaign_id}/recipients first."
        )
    now = clock.now()
    later = campaign.send_at is not None and campaign.send_at > now
    steps = _moved(core, campaign, CampaignMove.SCHEDULE if later else CampaignMove.START, now)
    if later:
        return campaign.model_copy(update={"status": C.SCHEDULED})
    assert steps.current is not None
    return steps.current


def pause(core: Core, app: App, campaign_id: str) -> Campaign:
    _moved(core, _movable(core, app, campaign_id, CampaignMove.PAUSE), CampaignMove.PAUSE)
    return get(core, app, campaign_id).campaign


def cancel(core: Core, app: App, campaign_id: str) -> Campaign:
    """Canceled at once; the withdrawal's chains start (a draft has no card to withdraw)."""
    campaign = _movable(core, app, campaign_id, CampaignMove.CANCEL)
    steps = _moved(core, campaign, CampaignMove.CANCEL)
    return steps.current or get(core, app, campaign_id).campaign


def resume(core: Core, app: App, campaign_id: str) -> Campaign:
    campaign = _movable(core, app, campaign_id, CampaignMove.RESUME)
    steps = _moved(core, campaign, CampaignMove.RESUME)
    assert steps.current is not None
    return steps.current


def _movable(core: Core, app: App, campaign_id: str, move: CampaignMove) -> Campaign:
    campaign = get(core, app, campaign_id).campaign
    if not phases.allowed(move, campaign):
        raise InvalidCampaignState(f"A {campaign.status} campaign cannot {move}.")
    return campaign


def _moved(
    core: Core, campaign: Campaign, move: CampaignMove, now: datetime | None = None
) -> CampaignSteps:
    """Apply the move; 409 when the campaign moved on meanwhile."""
    steps = CampaignSteps(core, campaign, now or clock.now())
    if not steps.apply(move):
        asked = CampaignMove.START if move is CampaignMove.SCHEDULE else move
        raise InvalidCampaignState(f"The campaign moved on; it cannot {asked} now.")
    return steps
