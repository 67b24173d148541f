"""From validated requests to the services' commands (``chalicelib.services.commands``)."""

from __future__ import annotations

from pydantic import BaseModel

from chalicelib.api.http import idempotency_key
from chalicelib.api.schemas.campaigns import CampaignIn, RecipientsIn
from chalicelib.api.schemas.messages import EventIn, ListQuery, MessageIn
from chalicelib.api.schemas.templates import TemplateIn
from chalicelib.api.schemas.users import ActivityIn, PreferencesIn
from chalicelib.domain.campaign_records import Experiment, Recipient, Variant
from chalicelib.domain.records import Keyword
from chalicelib.services.commands import (
    ActivityEvent,
    ChangePreferences,
    Idempotent,
    ListMessages,
    NewCampaign,
    NewMessage,
    PutTemplate,
    TrackEvent,
)
from chalicelib.services.message_create import body_hash


def new_message(body: MessageIn) -> NewMessage:
    return NewMessage(
        openid=body.openid,
        template_id=body.template_id,
        data=body.data,
        page=body.page,
        send_at=body.send_at,
        best_time_within_hours=body.best_time.within_hours if body.best_time else None,
        urgent=body.urgent,
        lang=body.lang,
    )


def idempotent(header: str | None, body: BaseModel) -> Idempotent | None:
    """The Idempotency-Key header (checked) with the hash of the request it came with."""
    key = idempotency_key(header)
    return None if key is None else Idempotent(key, body_hash(body))


def list_messages(query: ListQuery) -> ListMessages:
    return ListMessages(status=query.status, limit=query.limit, cursor=query.cursor)


def track_event(body: EventIn) -> TrackEvent:
    return TrackEvent(type=body.type, value=body.value)


def activity_events(body: ActivityIn) -> list[ActivityEvent]:
    return [ActivityEvent(openid=e.openid, at=e.at, kind=e.kind) for e in body.events]


def put_template(body: TemplateIn) -> PutTemplate:
    listed = body.keywords
    given = None if listed is None else tuple(Keyword(**k.model_dump()) for k in listed)
    return PutTemplate(
        title=body.title,
        kind=body.kind,
        category=body.category,
        keywords=given,
        content=body.content,
        default_page=body.default_page,
        grant_ttl_days=body.grant_ttl_days,
        target_credits=body.target_credits,
    )


def change_preferences(body: PreferencesIn) -> ChangePreferences:
    """Only the settings the request names change (an explicit null too)."""
    given = body.model_dump(exclude_unset=True)
    listed = {k: tuple(v) for k, v in given.items() if isinstance(v, list)}
    return ChangePreferences(**{**given, **listed})


def new_campaign(body: CampaignIn) -> NewCampaign:
    holders, experiment = body.audience.holders, body.experiment
    return NewCampaign(
        name=body.name,
        template_id=body.template_id,
        holders=holders is not None,
        active_within_days=holders.active_within_days if holders is not None else None,
        openids=None if body.audience.openids is None else tuple(body.audience.openids),
        data=body.data,
        page=body.page,
        send_at=body.send_at,
        rate_per_minute=body.rate_per_minute,
        variants=tuple(Variant.model_validate(v.model_dump()) for v in body.variants or []),
        experiment=None
        if experiment is None
        else Experiment.model_validate(experiment.model_dump()),
        best_time_within_hours=body.best_time.within_hours if body.best_time else None,
        start=body.start,
    )


def recipients(body: RecipientsIn) -> list[Recipient]:
    return [Recipient(openid=r.openid, data=r.data) for r in body.recipients]
