"""Campaigns through the API (docs/api.md#campaigns): create, add recipients, read, start, pause,
resume, cancel. The fan-out itself, the throttle and the tick live in ``campaign_fanout``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from chalicelib.adapters.store.campaigns import Loaded
from chalicelib.adapters.store.counters import Protected
from chalicelib.api.schemas import CampaignIn, RecipientIn
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock, keywords
from chalicelib.domain.campaigns import CampaignMove, Progress
from chalicelib.domain.errors import (
    FieldProblem,
    IdempotencyKeyMismatch,
    InvalidCampaignState,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.records import (
    App,
    Campaign,
    CampaignStatus,
    Category,
    Experiment,
    Recipient,
    Template,
    Variant,
)
from chalicelib.ports import Services, TransactionFailed, WriteName
from chalicelib.services import campaign_fanout, campaign_withdraw
from chalicelib.services.message_create import body_hash, scheduled_at
from chalicelib.services.templates import find_template

C = CampaignStatus
PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
CAMPAIGN, IDEMPOTENCY, AUDIENCE = WriteName.CAMPAIGN, WriteName.IDEMPOTENCY, WriteName.AUDIENCE
CHUNK = 98  # recipients per transaction, beside the campaign's audience counter (at most 100)


def create(
    services: Services, app: App, body: CampaignIn, idempotency_key: str | None
) -> tuple[Campaign, bool]:
    """A new campaign (started unless ``start`` is false); (campaign, False) for a replay."""
    now = clock.now()
    digest = body_hash(body)
    replayed = _replayed(services, app, idempotency_key, digest, now)
    if replayed is not None:
        return replayed, False
    _check_list(body)
    template = _template(services, app, body)
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
    _check_campaign_data(template, campaign)
    listed = [RecipientIn(openid=openid) for openid in body.audience.openids or []]
    _check_recipients(template, campaign, listed, "audience.openids")
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
        _add(services, template, campaign, listed, "audience.openids")
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


def _check_list(body: CampaignIn) -> None:
    """An empty list is a draft to fill through /recipients: it cannot start."""
    if body.audience.openids == [] and body.start:
        raise ValidationFailed(
            "An empty list of openids makes a draft: create it with start false, then add "
            "recipients.",
            [FieldProblem("audience.openids", "empty while start is true")],
        )


def _template(services: Services, app: App, body: CampaignIn) -> Template:
    try:
        template = find_template(services, app.app_id, body.template_id)
    except NotFound as error:
        raise ValidationFailed(
            "The campaign names a template this app does not have.",
            [FieldProblem("template_id", "unknown template")],
        ) from error
    holders = body.audience.holders
    if holders is not None and template.category is Category.TRANSACTIONAL:
        raise ValidationFailed(
            "A holders audience needs a reminder or marketing template.",
            [FieldProblem("template_id", "a transactional template answers one user's action")],
        )
    return template


def _variant_field(campaign: Campaign, key: str, variant: Variant | None) -> str:
    if variant is not None and key in variant.data:
        return f"variants[{campaign.variants.index(variant)}].data.{key}"
    return f"data.{key}"


def _choices(campaign: Campaign) -> Sequence[Variant | None]:
    return campaign.variants or [None]


def _check_campaign_data(template: Template, campaign: Campaign) -> None:
    """Every value given breaks no rule; a holders audience has no data of its own, so its
    campaign's data (under each variant's) must also be complete."""
    problems: list[FieldProblem] = []
    for variant in _choices(campaign):
        data = rules.message_data(campaign, variant, {})
        for problem in keywords.validate_data(template.keywords, data):
            if problem.problem == "missing" and campaign.audience == "list":
                continue  # each recipient may bring it
            key = problem.field.removeprefix("data.")
            named = FieldProblem(_variant_field(campaign, key, variant), problem.problem)
            if named not in problems:
                problems.append(named)
    if problems:
        raise ValidationFailed("Some keyword values break WeChat's rules.", problems)


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
    added = _add(services, template, campaign, recipients, "recipients")
    return get(services, app, campaign_id).campaign, added


def _add(
    services: Services,
    template: Template,
    campaign: Campaign,
    recipients: Sequence[RecipientIn],
    field: str,
) -> int:
    _check_recipients(template, campaign, recipients, field)
    unique: dict[str, Recipient] = {}
    for r in recipients:  # a repeated openid keeps its first data
        unique.setdefault(r.openid, Recipient(openid=r.openid, data=r.data))
    ordered = list(unique.values())
    added = 0
    for start in range(0, len(ordered), CHUNK):
        added += _add_chunk(services, campaign, ordered[start : start + CHUNK])
    return added


def _check_recipients(
    template: Template, campaign: Campaign, recipients: Sequence[RecipientIn], field: str
) -> None:
    """Each recipient's data, merged over the campaign's and each variant's, is complete and
    breaks no rule (400 naming ``recipients[3].data.thing1``)."""
    problems: list[FieldProblem] = []
    for index, recipient in enumerate(recipients):
        for variant in _choices(campaign):
            data = rules.message_data(campaign, variant, recipient.data)
            for problem in keywords.validate_data(template.keywords, data):
                named = FieldProblem(f"{field}[{index}].{problem.field}", problem.problem)
                if named not in problems:
                    problems.append(named)
    if problems:
        raise ValidationFailed("Some recipients' keyword values break WeChat's rules.", problems)


def _add_chunk(services: Services, campaign: Campaign, chunk: list[Recipient]) -> int:
    """One transaction: the new recipients and the audience count; those already there drop."""
    store = services.store
    names = {WriteName.RECIPIENT.of(r.openid): r for r in chunk}
    while names:
        transaction = store.transaction()
        for name, recipient in names.items():
            transaction.add(name, store.campaigns.new_recipient(campaign, recipient))
        transaction.add(AUDIENCE, store.campaigns.add_audience(campaign, len(names)))
        try:
            transaction.commit()
            return len(names)
        except TransactionFailed as failed:
            if failed.on(AUDIENCE):
                raise InvalidCampaignState("The campaign is no longer a draft.") from failed
            names = {n: r for n, r in names.items() if n not in failed.failed}
    return 0


# Reading ---------------------------------------------------------------------------------


def get(services: Services, app: App, campaign_id: str) -> Loaded:
    found = None
    if campaign_id.startswith("cmp_") and PATH_ID.fullmatch(campaign_id):
        found = services.store.campaigns.get(app.app_id, campaign_id)
    if found is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    return found


def progress(services: Services, campaign: Campaign) -> Progress:
    return campaign_fanout.progress(services, campaign)


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
    if campaign.send_at is not None and campaign.send_at > now:
        later = rules.target(CampaignMove.START, starts_later=True)
        store = services.store
        transaction = store.transaction()
        transaction.add(CAMPAIGN, store.campaigns.moved(campaign, frozenset({C.DRAFT}), later))
        transaction.add(WriteName.WATCH, store.campaigns.watch(campaign))
        campaign_fanout.commit_move(transaction, CampaignMove.START)
        return campaign.model_copy(update={"status": later})
    return campaign_fanout.begin(services, campaign, now)


def pause(services: Services, app: App, campaign_id: str) -> Campaign:
    return _simple_move(services, app, campaign_id, CampaignMove.PAUSE, {})


def cancel(services: Services, app: App, campaign_id: str) -> Campaign:
    campaign = _movable(services, app, campaign_id, CampaignMove.CANCEL)
    campaign_withdraw.cancel(services, campaign, clock.now())
    return get(services, app, campaign_id).campaign


def resume(services: Services, app: App, campaign_id: str) -> Campaign:
    campaign = _movable(services, app, campaign_id, CampaignMove.RESUME)
    return campaign_fanout.resume(services, campaign, clock.now())


def _movable(services: Services, app: App, campaign_id: str, move: CampaignMove) -> Campaign:
    campaign = get(services, app, campaign_id).campaign
    if campaign.status not in rules.sources(move):
        raise InvalidCampaignState(f"A {campaign.status} campaign cannot {move}.")
    return campaign


def _simple_move(
    services: Services,
    app: App,
    campaign_id: str,
    move: CampaignMove,
    changes: dict[str, object],
) -> Campaign:
    campaign = _movable(services, app, campaign_id, move)
    store = services.store
    target = rules.target(move)
    transaction = store.transaction()
    moved = store.campaigns.moved(campaign, rules.sources(move), target, changes)
    transaction.add(CAMPAIGN, moved)
    campaign_fanout.commit_move(transaction, move)
    return get(services, app, campaign_id).campaign
