"""Campaigns through the API (docs/api.md#campaigns): create, add recipients, read, start, pause,
resume, cancel. Each move is a row of ``domain/campaign_phases`` applied by ``campaign_steps``;
the checks of the audience and its data are in ``campaign_audience``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from chalicelib.adapters.store.campaigns import Loaded
from chalicelib.adapters.store.counters import Protected
from chalicelib.api.schemas import CampaignIn, RecipientIn
from chalicelib.domain import campaign_phases as phases
from chalicelib.domain import clock
from chalicelib.domain.campaign_phases import CampaignMove
from chalicelib.domain.campaigns import Progress
from chalicelib.domain.errors import (
    IdempotencyKeyMismatch,
    InvalidCampaignState,
    NotFound,
)
from chalicelib.domain.records import (
    App,
    Campaign,
    CampaignStatus,
    Experiment,
    Variant,
)
from chalicelib.ports import Services, TransactionFailed, WriteName
from chalicelib.services import campaign_audience, campaign_steps
from chalicelib.services.campaign_steps import CampaignSteps
from chalicelib.services.message_create import body_hash, scheduled_at
from chalicelib.services.templates import find_template

C = CampaignStatus
PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
CAMPAIGN, IDEMPOTENCY = WriteName.CAMPAIGN, WriteName.IDEMPOTENCY


def create(
    services: Services, app: App, body: CampaignIn, idempotency_key: str | None
) -> tuple[Campaign, bool]:
    """A new campaign (started unless ``start`` is false); (campaign, False) for a replay."""
    now = clock.now()
    digest = body_hash(body)
    replayed = _replayed(services, app, idempotency_key, digest, now)
    if replayed is not None:
        return replayed, False
    campaign_audience.check_list(body)
    template = campaign_audience.template_for(services, app, body)
    campaign = Campaign(
        campaign_id=clock.new_id("cmp"),
        app_id=app.app_id,
        name=body.name,
        template_id=template.template_id,
        audience="holders" if body.audience.holders is not None else "list",
        active_within_days=body.audience.holders.active_within_days
        if body.audience.holders
        else None,
        data=body.data,
        page=body.page,
        send_at=_send_at(services, body.send_at, now),
        rate_per_minute=body.rate_per_minute,
        best_time_within_hours=body.best_time.within_hours if body.best_time else None,
        variants=[Variant.model_validate(v.model_dump()) for v in body.variants or []],
        experiment=Experiment.model_validate(body.experiment.model_dump())
        if body.experiment
        else None,
        status=C.DRAFT,
        created_at=now,
    )
    campaign_audience.check_campaign_data(template, campaign)
    listed = [RecipientIn(openid=openid) for openid in body.audience.openids or []]
    campaign_audience.check_recipients(template, campaign, listed, "audience.openids")
    store = services.store
    transaction = store.transaction().add(CAMPAIGN, store.campaigns.create(campaign))
    if idempotency_key:
        claim = store.idempotency.claim(
            app.app_id,
            Protected.CAMPAIGN,
            idempotency_key,
            digest,
            campaign.campaign_id,
            now,
            services.settings.idempotency_ttl_s,
        )
        transaction.add(IDEMPOTENCY, claim)
    if transaction.commit_unless_lost(IDEMPOTENCY):
        found = _replayed(services, app, idempotency_key, digest, now)
        if found is None:
            raise TransactionFailed(frozenset({IDEMPOTENCY}))  # claimed, and gone since
        return found, False
    if listed:
        campaign_audience.add(services, template, campaign, listed, "audience.openids")
    if body.start:
        return start(services, app, campaign.campaign_id), True
    return get(services, app, campaign.campaign_id).campaign, True


def _replayed(
    services: Services, app: App, key: str | None, digest: str, now: datetime
) -> Campaign | None:
    if not key:
        return None
    record = services.store.idempotency.get(app.app_id, Protected.CAMPAIGN, key, now)
    if record is None:
        return None
    if record["body_hash"] != digest:
        raise IdempotencyKeyMismatch("This Idempotency-Key was used with a different body.")
    return get(services, app, record["created_id"]).campaign


def _send_at(services: Services, requested: datetime | None, now: datetime) -> datetime | None:
    if requested is None or requested <= now:
        return None
    return scheduled_at(services, requested, now)


# Recipients ------------------------------------------------------------------------------


def add_recipients(
    services: Services, app: App, campaign_id: str, recipients: Sequence[RecipientIn]
) -> tuple[Campaign, int]:
    """Add recipients to a draft (an openid already there counts once); how many were new."""
    campaign = get(services, app, campaign_id).campaign
    if campaign.status is not C.DRAFT:
        raise InvalidCampaignState(
            f"Recipients can only be added to a draft, not {campaign.status}."
        )
    template = find_template(services, app.app_id, campaign.template_id)
    added = campaign_audience.add(services, template, campaign, recipients, "recipients")
    return get(services, app, campaign_id).campaign, added


# Reading ---------------------------------------------------------------------------------


def get(services: Services, app: App, campaign_id: str) -> Loaded:
    found = None
    if campaign_id.startswith("cmp_") and PATH_ID.fullmatch(campaign_id):
        found = services.store.campaigns.get(app.app_id, campaign_id)
    if found is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    return found


def progress(services: Services, campaign: Campaign) -> Progress:
    return campaign_steps.progress(services, campaign)


def list_campaigns(
    services: Services, app: App, limit: int, cursor: str | None
) -> tuple[list[Campaign], str | None]:
    return services.store.campaigns.list(app.app_id, limit, cursor)


# Moves -----------------------------------------------------------------------------------


def start(services: Services, app: App, campaign_id: str) -> Campaign:
    campaign = _movable(services, app, campaign_id, CampaignMove.START)
    if campaign.audience == "list" and campaign.audience_size == 0:
        raise InvalidCampaignState(
            "A list campaign without recipients cannot start: add them through "
            f"POST /v1/campaigns/{campaign_id}/recipients first."
        )
    now = clock.now()
    later = campaign.send_at is not None and campaign.send_at > now
    steps = _moved(services, campaign, CampaignMove.SCHEDULE if later else CampaignMove.START, now)
    if later:
        return campaign.model_copy(update={"status": C.SCHEDULED})
    assert steps.current is not None
    return steps.current


def pause(services: Services, app: App, campaign_id: str) -> Campaign:
    _moved(services, _movable(services, app, campaign_id, CampaignMove.PAUSE), CampaignMove.PAUSE)
    return get(services, app, campaign_id).campaign


def cancel(services: Services, app: App, campaign_id: str) -> Campaign:
    """Canceled at once; the withdrawal's chains start (a draft has no card to withdraw)."""
    campaign = _movable(services, app, campaign_id, CampaignMove.CANCEL)
    steps = _moved(services, campaign, CampaignMove.CANCEL)
    return steps.current or get(services, app, campaign_id).campaign


def resume(services: Services, app: App, campaign_id: str) -> Campaign:
    campaign = _movable(services, app, campaign_id, CampaignMove.RESUME)
    steps = _moved(services, campaign, CampaignMove.RESUME)
    assert steps.current is not None
    return steps.current


def _movable(services: Services, app: App, campaign_id: str, move: CampaignMove) -> Campaign:
    campaign = get(services, app, campaign_id).campaign
    if not phases.allowed(move, campaign):
        raise InvalidCampaignState(f"A {campaign.status} campaign cannot {move}.")
    return campaign


def _moved(
    services: Services, campaign: Campaign, move: CampaignMove, now: datetime | None = None
) -> CampaignSteps:
    """Apply the move; 409 when the campaign moved on meanwhile."""
    steps = CampaignSteps(services, campaign, now or clock.now())
    if not steps.apply(move):
        asked = CampaignMove.START if move is CampaignMove.SCHEDULE else move
        raise InvalidCampaignState(f"The campaign moved on; it cannot {asked} now.")
    return steps
