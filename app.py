"""submsg: subscription messages for mini-programs. This file only wires routes and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Rate
from chalice.app import Response, SQSEvent

from chalicelib import deadline
from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.api.http import (
    endpoint,
    in_error_format,
    parse_body,
    parse_query,
    path_id,
    plain,
    reply,
)
from chalicelib.bootstrap import services
from chalicelib.domain import clock
from chalicelib.domain.campaign_records import Campaign
from chalicelib.domain.records import App, GrantResult, GrantSource
from chalicelib.lazy import lazy
from chalicelib.services import rate_limit
from chalicelib.services.auth import authenticate
from chalicelib.services.deps import Core

# Each area's schemas, mappers and services load at their first use: the send worker never
# builds the HTTP models, the API a campaign's only when one is asked for (docs/bench.md).
if TYPE_CHECKING:
    from chalicelib.api import commands, mappers
    from chalicelib.api import webhook_mappers as hooks
    from chalicelib.api.schemas import campaigns as campaign_io
    from chalicelib.api.schemas import messages as message_io
    from chalicelib.api.schemas import stats as stats_io
    from chalicelib.api.schemas import templates as template_io
    from chalicelib.api.schemas import users as user_io
    from chalicelib.api.schemas import webhooks as webhook_io
    from chalicelib.services import (
        activity,
        callback,
        campaigns,
        grants,
        message_create,
        message_moves,
        preferences,
        stats,
        sweeps,
        templates,
        webhook_delivery,
        webhooks,
    )
else:
    commands = lazy("chalicelib.api.commands")
    mappers = lazy("chalicelib.api.mappers")
    hooks = lazy("chalicelib.api.webhook_mappers")
    campaign_io = lazy("chalicelib.api.schemas.campaigns")
    message_io = lazy("chalicelib.api.schemas.messages")
    stats_io = lazy("chalicelib.api.schemas.stats")
    template_io = lazy("chalicelib.api.schemas.templates")
    user_io = lazy("chalicelib.api.schemas.users")
    webhook_io = lazy("chalicelib.api.schemas.webhooks")
    activity = lazy("chalicelib.services.activity")
    callback = lazy("chalicelib.services.callback")
    campaigns = lazy("chalicelib.services.campaigns")
    grants = lazy("chalicelib.services.grants")
    message_create = lazy("chalicelib.services.message_create")
    message_moves = lazy("chalicelib.services.message_moves")
    preferences = lazy("chalicelib.services.preferences")
    stats = lazy("chalicelib.services.stats")
    sweeps = lazy("chalicelib.services.sweeps")
    templates = lazy("chalicelib.services.templates")
    webhook_delivery = lazy("chalicelib.services.webhook_delivery")
    webhooks = lazy("chalicelib.services.webhooks")

app = Chalice(app_name="submsg")


def route(path: str, *methods: str) -> Callable[[Callable[..., Response]], Any]:
    """A route that accepts any content type (checked by us) and answers errors in our format."""

    def register(view: Callable[..., Response]) -> Any:
        answered = endpoint(view, lambda: services().core.settings.request_deadline_s)
        return app.route(path, methods=list(methods), content_types=["*/*"])(answered)

    return register


def caller(counted: bool = True, **path_ids: str) -> App:
    """The app of the request's API key, its request counted against the app's rate limit
    (``counted=False``: the service counts it, inside its own transaction). ``path_ids``
    (``user=openid``) that cannot be ids are not found before any AWS call."""
    owner = authenticate(services().core, app.current_request.headers.get("authorization"))
    for what, value in path_ids.items():
        path_id(value, what)
    if counted:
        rate_limit.charge(services().core, owner, clock.now())
    return owner


def body(model: type[Any]) -> Any:
    return parse_body(app.current_request, model, services().core.settings.max_body_bytes)


@app.middleware("all")
def emit_metrics(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Every function, whatever its event: what the invocation recorded, printed as EMF."""
    try:
        return get_response(event)
    finally:
        metrics.flush(services().core.settings.stage)


@app.middleware("http")
def answer_in_error_format(event: Any, get_response: Callable[[Any], Response]) -> Response:
    response = in_error_format(get_response(event))
    metrics.answered(response.status_code, response.body)
    return response


# Health and documentation ------------------------------------------------------------------


@route("/v1/health", "GET")
def health() -> Response:
    services().readiness.check()
    return reply({"status": "ok"})


@route("/v1/openapi.json", "GET")
def openapi() -> Response:
    from chalicelib.api.openapi import document

    return reply(document(app))


# Templates ---------------------------------------------------------------------------------


@route("/v1/templates", "GET")
def list_templates() -> Response:
    owner = caller()
    found = services().core.store.catalog.list_templates(owner.app_id)
    return reply(template_io.TemplateList(items=[mappers.template_out(t) for t in found]))


@route("/v1/templates/{template_id}", "PUT")
def put_template(template_id: str) -> Response:
    owner = caller(template=template_id)
    command = commands.put_template(body(template_io.TemplateIn))
    template, created = templates.put_template(services().core, owner.app_id, template_id, command)
    return reply(mappers.template_out(template), 201 if created else 200)


@route("/v1/templates/{template_id}", "GET")
def get_template(template_id: str) -> Response:
    owner = caller(template=template_id)
    template = templates.find_template(services().core, owner.app_id, template_id)
    return reply(mappers.template_out(template))


@route("/v1/templates/{template_id}", "DELETE")
def delete_template(template_id: str) -> Response:
    owner = caller(template=template_id)
    templates.delete_template(services().core, owner.app_id, template_id)
    return reply(None, 204)


# Grants and users --------------------------------------------------------------------------


@route("/v1/grants", "POST")
def post_grants() -> Response:
    owner = caller()
    request = body(user_io.GrantsIn)
    results = {tid: GrantResult(r) for tid, r in request.results.items()}
    state = grants.record_results(services().core, owner, request.openid, results, GrantSource.API)
    found = [templates.find_template(services().core, owner.app_id, tid) for tid in results]
    return reply(mappers.grants_out(request.openid, state, found), 201)


@route("/v1/users/{openid}/subscriptions", "GET")
def get_subscriptions(openid: str) -> Response:
    owner = caller(user=openid)
    return reply(
        mappers.subscriptions_out(openid, grants.subscriptions(services().core, owner, openid))
    )


@route("/v1/users/{openid}/preferences", "GET")
def get_preferences(openid: str) -> Response:
    owner = caller(user=openid)
    return reply(mappers.preferences_out(openid, preferences.get(services().core, owner, openid)))


@route("/v1/users/{openid}/preferences", "PUT")
def put_preferences(openid: str) -> Response:
    owner = caller(user=openid)
    change = commands.change_preferences(body(user_io.PreferencesIn))
    updated = preferences.update(services().core, owner, openid, change)
    return reply(mappers.preferences_out(openid, updated))


@route("/v1/users/{openid}", "DELETE")
def erase_user(openid: str) -> Response:
    owner = caller(user=openid)
    preferences.erase_user(services().core, owner, openid)
    return reply(None, 204)


@route("/v1/users/{openid}/messages", "GET")
def list_user_messages(openid: str) -> Response:
    owner = caller(user=openid)
    query = commands.list_messages(parse_query(app.current_request, message_io.ListQuery))
    found, cursor = message_moves.list_for_user(services().core, owner, openid, query)
    return reply(mappers.messages_out(found, cursor))


# Activity ----------------------------------------------------------------------------------


@route("/v1/activity", "POST")
def post_activity() -> Response:
    owner = caller()
    events = commands.activity_events(body(user_io.ActivityIn))
    return reply(user_io.ActivityOut(accepted=activity.record(services().core, owner, events)), 202)


# Messages ----------------------------------------------------------------------------------


@route("/v1/messages", "POST")
def post_message() -> Response:
    owner = caller(counted=False)
    request = body(message_io.MessageIn)
    key = app.current_request.headers.get("idempotency-key")
    idempotent = commands.idempotent(key, request)
    card = commands.new_message(request)
    message, created = message_create.create(services().core, owner, card, idempotent)
    return reply(mappers.message_out(message), 201 if created else 200)


@route("/v1/messages/{message_id}", "GET")
def get_message(message_id: str) -> Response:
    owner = caller(message=message_id)
    return reply(mappers.message_out(message_moves.get(services().core, owner, message_id)))


@route("/v1/messages/{message_id}", "PATCH")
def move_message(message_id: str) -> Response:
    owner = caller(message=message_id)
    request = body(message_io.RescheduleIn)
    moved = message_moves.reschedule(services().core, owner, message_id, request.send_at)
    return reply(mappers.message_out(moved))


@route("/v1/messages/{message_id}", "DELETE")
def cancel_message(message_id: str) -> Response:
    owner = caller(message=message_id)
    canceled = message_moves.cancel(services().core, owner, message_id)
    return reply({"id": canceled.id, "status": canceled.status.value})


@route("/v1/messages/{message_id}/events", "POST")
def post_message_event(message_id: str) -> Response:
    owner = caller(message=message_id)
    event = commands.track_event(body(message_io.EventIn))
    counted = message_moves.track(services().core, owner, message_id, event)
    return reply(message_io.EventOut(id=message_id, type=event.type, counted=counted), 202)


@route("/v1/stats", "GET")
def get_stats() -> Response:
    owner = caller()
    query = parse_query(app.current_request, stats_io.StatsQuery)
    if query.campaign_id:
        days = stats.per_day_of_campaign(
            services().core, owner, query.campaign_id, query.from_, query.to
        )
    else:
        days = stats.per_day(services().core, owner, query.from_, query.to, query.template_id)
    return reply(mappers.stats_out(query.from_, query.to, days))


# Campaigns ---------------------------------------------------------------------------------


def campaign_answer(campaign: Campaign, status: int = 200) -> Response:
    done = campaigns.progress(services().core, campaign)
    return reply(mappers.campaign_out(campaign, done), status)


@route("/v1/campaigns", "POST")
def post_campaign() -> Response:
    owner = caller()
    request = body(campaign_io.CampaignIn)
    idempotent = commands.idempotent(app.current_request.headers.get("idempotency-key"), request)
    command = commands.new_campaign(request)
    campaign, created = campaigns.create(services().core, owner, command, idempotent)
    return campaign_answer(campaign, 201 if created else 200)


@route("/v1/campaigns", "GET")
def list_campaigns() -> Response:
    owner = caller()
    query = parse_query(app.current_request, campaign_io.CampaignListQuery)
    found, cursor = campaigns.list_campaigns(services().core, owner, query.limit, query.cursor)
    listed = [(c, campaigns.progress(services().core, c)) for c in found]
    return reply(mappers.campaigns_out(listed, cursor))


@route("/v1/campaigns/{campaign_id}", "GET")
def get_campaign(campaign_id: str) -> Response:
    owner = caller(campaign=campaign_id)
    found = campaigns.get(services().core, owner, campaign_id)
    return campaign_answer(found.campaign)


@route("/v1/campaigns/{campaign_id}/recipients", "POST")
def post_recipients(campaign_id: str) -> Response:
    owner = caller(campaign=campaign_id)
    listed = commands.recipients(body(campaign_io.RecipientsIn))
    campaign, added = campaigns.add_recipients(services().core, owner, campaign_id, listed)
    return reply(
        campaign_io.RecipientsOut(
            id=campaign.campaign_id, added=added, audience_size=campaign.audience_size
        ),
        201,
    )


def moved(move: Callable[[Core, App, str], Campaign], campaign_id: str) -> Response:
    owner = caller(campaign=campaign_id)
    return campaign_answer(move(services().core, owner, campaign_id))


@route("/v1/campaigns/{campaign_id}/start", "POST")
def start_campaign(campaign_id: str) -> Response:
    return moved(campaigns.start, campaign_id)


@route("/v1/campaigns/{campaign_id}/pause", "POST")
def pause_campaign(campaign_id: str) -> Response:
    return moved(campaigns.pause, campaign_id)


@route("/v1/campaigns/{campaign_id}/resume", "POST")
def resume_campaign(campaign_id: str) -> Response:
    return moved(campaigns.resume, campaign_id)


@route("/v1/campaigns/{campaign_id}/cancel", "POST")
def cancel_campaign(campaign_id: str) -> Response:
    return moved(campaigns.cancel, campaign_id)


# Webhooks ----------------------------------------------------------------------------------


@route("/v1/webhooks", "POST")
def post_webhook() -> Response:
    owner = caller()
    request = body(webhook_io.WebhookIn)
    created = webhooks.create(
        services().core, owner, request.url, request.events, request.description
    )
    return reply(hooks.endpoint_created(created), 201)


@route("/v1/webhooks", "GET")
def list_webhooks() -> Response:
    owner = caller()
    return reply(hooks.endpoints_out(webhooks.list_endpoints(services().core, owner)))


@route("/v1/webhooks/{endpoint_id}", "GET")
def get_webhook(endpoint_id: str) -> Response:
    owner = caller(webhook=endpoint_id)
    return reply(hooks.endpoint_out(webhooks.get(services().core, owner, endpoint_id)))


@route("/v1/webhooks/{endpoint_id}", "PATCH")
def patch_webhook(endpoint_id: str) -> Response:
    owner = caller(webhook=endpoint_id)
    changes = body(webhook_io.WebhookPatch).model_dump(exclude_unset=True)
    updated = webhooks.update(services().core, owner, endpoint_id, changes)
    return reply(hooks.endpoint_out(updated))


@route("/v1/webhooks/{endpoint_id}", "DELETE")
def delete_webhook(endpoint_id: str) -> Response:
    owner = caller(webhook=endpoint_id)
    webhooks.delete(services().core, owner, endpoint_id)
    return reply(None, 204)


@route("/v1/webhooks/{endpoint_id}/rotate", "POST")
def rotate_webhook_secret(endpoint_id: str) -> Response:
    owner = caller(webhook=endpoint_id)
    secret, until = webhooks.rotate(services().core, owner, endpoint_id)
    return reply(webhook_io.SecretOut(secret=secret, previous_valid_until=clock.zulu(until) or ""))


@route("/v1/webhooks/{endpoint_id}/test", "POST")
def test_webhook(endpoint_id: str) -> Response:
    owner = caller(webhook=endpoint_id)
    endpoint = webhooks.get(services().core, owner, endpoint_id)
    sent = webhook_delivery.send_test(services().core, owner.app_id, endpoint)
    return reply(webhook_io.WebhookEventOut(id=sent.id, type=sent.type, status=sent.status), 202)


@route("/v1/webhooks/{endpoint_id}/deliveries", "GET")
def list_webhook_deliveries(endpoint_id: str) -> Response:
    owner = caller(webhook=endpoint_id)
    query = parse_query(app.current_request, webhook_io.DeliveryQuery)
    found, cursor = webhooks.deliveries(
        services().core, owner, endpoint_id, query.status, query.limit, query.cursor
    )
    return reply(hooks.deliveries_out(found, cursor))


@route("/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry", "POST")
def retry_webhook_delivery(endpoint_id: str, delivery_id: str) -> Response:
    owner = caller(webhook=endpoint_id, delivery=delivery_id)
    found = webhooks.delivery(services().core, owner, endpoint_id, delivery_id)
    again = webhook_delivery.retry(services().core, found)
    return reply(webhook_io.WebhookEventOut(id=again.id, type=again.type, status=again.status), 202)


# WeChat push callback ----------------------------------------------------------------------


@route("/v1/wechat/{app_id}/callback", "GET", "POST")
def wechat_callback(app_id: str) -> Response:
    path_id(app_id, "app")
    request = app.current_request
    query = parse_query(request, callback.CallbackQuery)
    if request.method == "GET":
        return plain(callback.verify_url(services().app_secrets, app_id, query))
    callback.receive(services().app_secrets, app_id, query, request.raw_body or b"")
    return plain("success")


# Scheduled and queued work -----------------------------------------------------------------


def lambda_deadline(event: Any) -> Any:
    """The invocation's work ends in time to answer (docs/resilience.md)."""
    settings = services().core.settings
    context = getattr(event, "context", None)
    return deadline.of_lambda(context, settings.lambda_timeout_s, settings.finish_reserve_s)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def due_sweep(event: Any) -> dict[str, float]:
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    with lambda_deadline(event):
        report = sweeps.due_sweep(services().sweeping, remaining)
    logger.info("due sweep", extra=vars(report))
    return vars(report)


@app.schedule(Rate(1, unit=Rate.HOURS))
def expiry_sweep(event: Any) -> dict[str, int]:
    with lambda_deadline(event):
        report = sweeps.expiry_sweep(services().core)
    logger.info("expiry sweep", extra=vars(report))
    return vars(report)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def webhook_sweep(event: Any) -> dict[str, float]:
    report = webhook_delivery.sweep(services().core)
    logger.info("webhook sweep", extra=vars(report))
    return vars(report)


# One delivery per invocation: an attempt waits up to 15 s, so a slow receiver never holds up
# another's delivery in the same batch, nor runs past the function's timeout.
@app.on_sqs_message(queue="submsg-webhooks", batch_size=1)
def webhook_deliverer(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.api.webhook_worker import process_batch

    return process_batch(services(), event.to_dict(), event.context)


@app.on_sqs_message(queue="submsg-send", batch_size=10)
def send_worker(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.api.worker import process_batch

    return process_batch(services(), event.to_dict(), event.context)


@app.on_sqs_message(queue="submsg-sweep", batch_size=1)
def sweep_worker(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.api.worker import process_sweep

    report = process_sweep(services(), event.to_dict(), event.context)
    if report["enqueued"] or report["unknown"] or report["stopped"]:
        logger.info("sweep worker", extra=report)
    return report
