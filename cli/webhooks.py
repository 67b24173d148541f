"""`submsg webhooks`: an app's endpoints (create, list, show, update, delete, rotate, test) and
their delivery logs (deliveries, retry)."""

from __future__ import annotations

from typing import Annotated

import typer

from chalicelib.domain.webhooks import DeliveryStatus, Endpoint, EndpointStatus, EventType
from chalicelib.services import webhook_delivery, webhooks
from cli import target
from cli.output import moment, notes, records, results

commands = typer.Typer(
    help="Webhook endpoints: signed events about the app's cards.", no_args_is_help=True
)
AppId = Annotated[str, typer.Argument(help="The mini-program's appid.")]
EndpointId = Annotated[str, typer.Argument(help="The endpoint's id (whk_…).")]
Events = Annotated[
    list[EventType] | None,
    typer.Option("--event", help="An event type to send (repeat it; none: every type)."),
]
Description = Annotated[str | None, typer.Option(help="What the endpoint is for.")]


def _show(endpoint: Endpoint, secret: str | None = None) -> None:
    console = results()
    rows = [
        ["id", endpoint.id],
        ["url", endpoint.url],
        ["events", ", ".join(endpoint.events) if endpoint.events else "every type"],
        ["description", endpoint.description or "-"],
        ["status", endpoint.status.value],
    ]
    if endpoint.disabled_reason:
        rows.append(["disabled because", endpoint.disabled_reason])
    rows.append(["created", moment(endpoint.created_at)])
    if secret:
        rows.append(["secret", secret])
    console.print(records(console, ["Field", "Value"], rows))
    if secret:
        notes().print("The secret is shown this once: keep it where the receiver verifies.")


@commands.command()
def create(
    ctx: typer.Context,
    app_id: AppId,
    url: Annotated[str, typer.Argument(help="Where events are POSTed (https).")],
    event: Events = None,
    description: Description = None,
) -> None:
    """Add an endpoint; its signing secret is shown this once."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    events = [e.value for e in event] if event else None
    endpoint = webhooks.create(services.core, app, url, events, description)
    _show(endpoint, endpoint.secrets[0].value)


@commands.command("list")
def list_(ctx: typer.Context, app_id: AppId) -> None:
    """The app's endpoints."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    found = webhooks.list_endpoints(services.core, app)
    if not found:
        notes().print(f"App {app_id} has no webhook endpoint.")
        return
    console = results()
    rows = [
        [e.id, e.url, ", ".join(e.events) if e.events else "every type", e.status.value]
        for e in found
    ]
    console.print(records(console, ["Endpoint", "URL", "Events", "Status"], rows))


@commands.command()
def show(ctx: typer.Context, app_id: AppId, endpoint_id: EndpointId) -> None:
    """One endpoint (never its secret)."""
    services = target.services(ctx)
    _show(webhooks.get(services.core, target.require_app(services, app_id), endpoint_id))


@commands.command()
def update(
    ctx: typer.Context,
    app_id: AppId,
    endpoint_id: EndpointId,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    event: Events = None,
    description: Description = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch deliveries on or off.")
    ] = None,
) -> None:
    """Change an endpoint's URL, event types, description or status."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    changes: dict[str, object] = {}
    if url is not None:
        changes["url"] = url
    if event:
        changes["events"] = [e.value for e in event]
    if description is not None:
        changes["description"] = description
    if enable is not None:
        changes["status"] = EndpointStatus.ENABLED if enable else EndpointStatus.DISABLED
    _show(webhooks.update(services.core, app, endpoint_id, changes))


@commands.command()
def delete(ctx: typer.Context, app_id: AppId, endpoint_id: EndpointId) -> None:
    """Delete an endpoint (its pending deliveries fail)."""
    services = target.services(ctx)
    webhooks.delete(services.core, target.require_app(services, app_id), endpoint_id)
    notes().print(f"Deleted {endpoint_id}.")


@commands.command()
def rotate(ctx: typer.Context, app_id: AppId, endpoint_id: EndpointId) -> None:
    """A new signing secret; the old one goes on signing for 24 hours."""
    services = target.services(ctx)
    secret, until = webhooks.rotate(
        services.core, target.require_app(services, app_id), endpoint_id
    )
    results().print(secret)
    notes().print(f"The previous secret signs too until {moment(until)}.")


@commands.command()
def test(ctx: typer.Context, app_id: AppId, endpoint_id: EndpointId) -> None:
    """Send a webhook.test event to the endpoint."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    endpoint = webhooks.get(services.core, app, endpoint_id)
    sent = webhook_delivery.send_test(services.core, app.app_id, endpoint)
    results().print(sent.id)
    notes().print(f"Queued; see `submsg webhooks deliveries {app_id} {endpoint_id}`.")


@commands.command()
def deliveries(
    ctx: typer.Context,
    app_id: AppId,
    endpoint_id: EndpointId,
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only these.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
) -> None:
    """The endpoint's delivery log, newest first."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    found, _ = webhooks.deliveries(services.core, app, endpoint_id, status, limit, None)
    if not found:
        notes().print(f"No delivery for {endpoint_id}.")
        return
    console = results()
    rows = [
        [
            d.id,
            d.type.value,
            d.status.value,
            str(d.attempts),
            str(d.last_status_code or "-"),
            d.last_error or "-",
            moment(d.next_attempt_at),
            moment(d.created_at),
        ]
        for d in found
    ]
    headers = ["Delivery", "Type", "Status", "Attempts", "Last", "Error", "Next", "Created"]
    console.print(records(console, headers, rows))


@commands.command()
def retry(
    ctx: typer.Context,
    app_id: AppId,
    endpoint_id: EndpointId,
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id (evt_…).")],
) -> None:
    """Deliver an event again at once, with the same webhook-id."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    found = webhooks.delivery(services.core, app, endpoint_id, delivery_id)
    again = webhook_delivery.retry(services.core, found)
    results().print(f"{again.id} {again.status.value}")
