"""Request and response shapes of the webhook routes (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from chalicelib.api.schemas.base import Request, Response
from chalicelib.domain.webhooks import DeliveryStatus, EndpointStatus, EventType

Url = Annotated[
    str, Field(min_length=1, max_length=2048, examples=["https://example.com/hooks/submsg"])
]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]
Description = Annotated[str, Field(max_length=256)]


def _unique(events: list[EventType] | None) -> list[EventType] | None:
    if events is not None and len(set(events)) != len(events):
        raise ValueError("lists an event type twice")
    return events


class WebhookIn(Request):
    url: Url
    events: Events | None = None  # absent: every type
    description: Description | None = None

    _events = field_validator("events")(_unique)


class WebhookPatch(Request):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    status: EndpointStatus | None = None

    _events = field_validator("events")(_unique)


class WebhookOut(Response):
    id: str
    url: str
    events: list[EventType] | None  # null: every type
    description: str | None
    status: EndpointStatus
    disabled_reason: str | None
    created_at: str
    updated_at: str


class WebhookCreated(WebhookOut):
    secret: str  # shown only here and in a rotation's answer


class WebhookList(Response):
    items: list[WebhookOut]


class SecretOut(Response):
    secret: str
    previous_valid_until: str  # the old secret signs until then


class WebhookEventOut(Response):
    id: str  # the webhook-id of every delivery of the event
    type: EventType
    status: DeliveryStatus


class DeliveryOut(Response):
    id: str
    type: EventType
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None


class DeliveryList(Response):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryQuery(Request):
    status: DeliveryStatus | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=2048)
