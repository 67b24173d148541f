"""Webhook records to their answers (the secret only where the routes ask for it)."""

from __future__ import annotations

from chalicelib.api.schemas.webhooks import (
    DeliveryList,
    DeliveryOut,
    WebhookCreated,
    WebhookList,
    WebhookOut,
)
from chalicelib.domain import clock
from chalicelib.domain.webhooks import Delivery, Endpoint


def endpoint_out(endpoint: Endpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        description=endpoint.description,
        status=endpoint.status,
        disabled_reason=endpoint.disabled_reason,
        created_at=clock.zulu(endpoint.created_at) or "",
        updated_at=clock.zulu(endpoint.updated_at) or "",
    )


def endpoint_created(endpoint: Endpoint) -> WebhookCreated:
    return WebhookCreated(**endpoint_out(endpoint).model_dump(), secret=endpoint.secrets[0].value)


def endpoints_out(endpoints: list[Endpoint]) -> WebhookList:
    return WebhookList(items=[endpoint_out(e) for e in endpoints])


def delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        type=delivery.type,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        next_attempt_at=clock.zulu(delivery.next_attempt_at),
        created_at=clock.zulu(delivery.created_at) or "",
        delivered_at=clock.zulu(delivery.delivered_at),
    )


def deliveries_out(found: list[Delivery], cursor: str | None) -> DeliveryList:
    return DeliveryList(items=[delivery_out(d) for d in found], next_cursor=cursor)
