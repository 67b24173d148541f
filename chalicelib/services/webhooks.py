"""Webhook endpoints of an app: create, read, change, delete, rotate; their delivery logs.

A container keeps each app's endpoints for ``webhook_cache_s`` (an app without any costs the
moves nothing); a change made here is seen here at once, in other containers within that time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from chalicelib.adapters import metrics
from chalicelib.adapters.addresses import refused_now
from chalicelib.adapters.metrics import WebhookOutcome
from chalicelib.domain import clock
from chalicelib.domain.errors import FieldProblem, NotFound, ValidationFailed
from chalicelib.domain.records import App
from chalicelib.domain.webhooks import (
    MAX_ENDPOINTS,
    ROTATION_OVERLAP,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Secret,
    new_secret,
    url_refused,
)
from chalicelib.ports import LOCAL_STAGE
from chalicelib.services.deps import Core

ID_PREFIX = "whk"


def endpoints_of(core: Core, app_id: str) -> tuple[Endpoint, ...]:
    """The app's endpoints as this container knows them (an empty answer is kept too)."""
    cache = core.webhook_endpoints

    def load() -> tuple[Endpoint, ...]:
        return tuple(core.store.webhooks.endpoints(app_id))

    if cache is None:
        return load()
    return cache.get(app_id, load) or ()


def forget(core: Core, app_id: str) -> None:
    if core.webhook_endpoints is not None:
        core.webhook_endpoints.forget(app_id)


def check_url(core: Core, url: str) -> None:
    """400 naming ``url`` unless a delivery may reach it (https outside the local stage; never
    a private, link-local, multicast or unspecified address; loopback only locally)."""
    local = core.settings.stage == LOCAL_STAGE
    problem = url_refused(url, allow_http=local, allow_loopback=local)
    if problem is None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        problem = refused_now(parts.hostname or "", port, allow_loopback=local)
    if problem is not None:
        raise ValidationFailed("The URL cannot receive webhooks.", [FieldProblem("url", problem)])


def create(
    core: Core,
    owner: App,
    url: str,
    events: list[str] | None,
    description: str | None,
) -> Endpoint:
    check_url(core, url)
    existing = core.store.webhooks.endpoints(owner.app_id)
    if len(existing) >= MAX_ENDPOINTS:
        raise ValidationFailed(
            f"An app has at most {MAX_ENDPOINTS} webhook endpoints.",
            [FieldProblem("url", f"the app has {MAX_ENDPOINTS} endpoints already")],
        )
    now = clock.now()
    endpoint = Endpoint.model_validate(
        {
            "id": clock.new_id(ID_PREFIX),
            "app_id": owner.app_id,
            "url": url,
            "events": events,
            "description": description,
            "secrets": [Secret(value=new_secret())],
            "created_at": now,
            "updated_at": now,
        }
    )
    core.store.webhooks.put_endpoint(endpoint, new=True)
    forget(core, owner.app_id)
    return endpoint


def get(core: Core, owner: App, endpoint_id: str) -> Endpoint:
    found = core.store.webhooks.endpoint(owner.app_id, endpoint_id)
    if found is None:
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.")
    return found


def list_endpoints(core: Core, owner: App) -> list[Endpoint]:
    return core.store.webhooks.endpoints(owner.app_id)


def update(core: Core, owner: App, endpoint_id: str, changes: dict[str, object]) -> Endpoint:
    current = get(core, owner, endpoint_id)
    if isinstance(changes.get("url"), str):
        check_url(core, str(changes["url"]))
    fields = dict(changes)
    if fields.get("status") == EndpointStatus.ENABLED:
        fields.update(
            disabled_reason=None,
            failing_since=None,
            failures=0,
            open_until_ms=None,
            probe_until_ms=None,
        )
    elif fields.get("status") == EndpointStatus.DISABLED:
        fields["disabled_reason"] = "disabled through the API"
    updated = current.model_copy(update={**fields, "updated_at": clock.now()})
    updated = Endpoint.model_validate(updated.model_dump())
    if not core.store.webhooks.put_endpoint(updated):
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.")
    forget(core, owner.app_id)
    return updated


def delete(core: Core, owner: App, endpoint_id: str) -> None:
    if not core.store.webhooks.delete_endpoint(owner.app_id, endpoint_id):
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.")
    forget(core, owner.app_id)


def rotate(core: Core, owner: App, endpoint_id: str) -> tuple[str, datetime]:
    """A new secret; the current one goes on signing for 24 h (older ones stop now)."""
    current = get(core, owner, endpoint_id)
    now = clock.now()
    until = now + ROTATION_OVERLAP
    secret = new_secret()
    kept = [Secret(value=s, until=until) for s in current.signing_secrets(now)[:1]]
    updated = current.model_copy(update={"secrets": [Secret(value=secret), *kept]})
    updated = updated.model_copy(update={"updated_at": now})
    if not core.store.webhooks.put_endpoint(updated):
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.")
    forget(core, owner.app_id)
    return secret, until


def disable(core: Core, endpoint: Endpoint, reason: str) -> None:
    """The deliverer gives up on an endpoint (410 Gone, or 5 days of failures)."""
    found = core.store.webhooks.endpoint(endpoint.app_id, endpoint.id)
    if found is None or found.status is EndpointStatus.DISABLED:
        return
    now = clock.now()
    changed = found.model_copy(
        update={"status": EndpointStatus.DISABLED, "disabled_reason": reason, "updated_at": now}
    )
    core.store.webhooks.put_endpoint(changed)
    forget(core, endpoint.app_id)
    metrics.webhook_delivery(endpoint.app_id, WebhookOutcome.DISABLED)


def deliveries(
    core: Core,
    owner: App,
    endpoint_id: str,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Delivery], str | None]:
    get(core, owner, endpoint_id)
    return core.store.webhooks.deliveries(owner.app_id, endpoint_id, status, limit, cursor)


def delivery(core: Core, owner: App, endpoint_id: str, delivery_id: str) -> Delivery:
    get(core, owner, endpoint_id)
    found = core.store.webhooks.delivery(owner.app_id, endpoint_id, delivery_id)
    if found is None:
        raise NotFound(f"No delivery {delivery_id!r} of this endpoint.")
    return found


def lease_end(core: Core, now: datetime) -> datetime:
    return now + timedelta(seconds=core.settings.webhook_lease_s)
