"""What each route of the HTTP API takes and answers, and what its errors mean: the table the
OpenAPI document (``chalicelib.api.openapi``) is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chalicelib.api.schemas import base, campaigns, messages, stats, templates, users, webhooks
from chalicelib.services.callback import CallbackQuery


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers; errors implied by the route's shape are added."""

    summary: str
    answer: type[BaseModel] | None = None
    success: tuple[int, ...] = (200,)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    headers: tuple[dict[str, Any], ...] = ()
    public: bool = False
    raw: bool = False  # WeChat's callback: its own body format, plain-text answers


CALLBACK = "/v1/wechat/{app_id}/callback"
WEBHOOK = "/v1/webhooks/{endpoint_id}"
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/v1/health", "GET"): Operation(
        "Readiness: 200 once every route can serve", base.Health, public=True, errors=(503,)
    ),
    ("/v1/openapi.json", "GET"): Operation("This document", public=True),
    ("/v1/templates", "GET"): Operation("List the app's templates", templates.TemplateList),
    ("/v1/templates/{template_id}", "PUT"): Operation(
        "Create or replace a template", templates.TemplateOut, (201, 200), body=templates.TemplateIn
    ),
    ("/v1/templates/{template_id}", "GET"): Operation("Read a template", templates.TemplateOut),
    ("/v1/templates/{template_id}", "DELETE"): Operation("Delete a template", success=(204,)),
    ("/v1/grants", "POST"): Operation(
        "Report a requestSubscribeMessage result", users.GrantsOut, (201,), body=users.GrantsIn
    ),
    ("/v1/activity", "POST"): Operation(
        "Record when users were active (the best send time learns from it)",
        users.ActivityOut,
        (202,),
        body=users.ActivityIn,
    ),
    ("/v1/users/{openid}/subscriptions", "GET"): Operation(
        "Credits, subscriptions and prompt advice of a user", users.SubscriptionsOut
    ),
    ("/v1/users/{openid}/preferences", "GET"): Operation("Read preferences", users.PreferencesOut),
    ("/v1/users/{openid}/preferences", "PUT"): Operation(
        "Change preferences", users.PreferencesOut, body=users.PreferencesIn
    ),
    ("/v1/users/{openid}", "DELETE"): Operation("Erase everything about a user", success=(204,)),
    ("/v1/users/{openid}/messages", "GET"): Operation(
        "List a user's messages", messages.MessageList, query=messages.ListQuery
    ),
    ("/v1/messages", "POST"): Operation(
        "Send or schedule a message",
        messages.MessageOut,
        (201, 200),
        body=messages.MessageIn,
        headers=(IDEMPOTENCY_KEY,),
        errors=(404, 409, 422),
    ),
    ("/v1/messages/{message_id}", "GET"): Operation("Read a message", messages.MessageOut),
    ("/v1/messages/{message_id}", "PATCH"): Operation(
        "Move a scheduled message", messages.MessageOut, body=messages.RescheduleIn, errors=(409,)
    ),
    ("/v1/messages/{message_id}", "DELETE"): Operation(
        "Cancel a message and refund its credit", messages.CancelOut, errors=(409,)
    ),
    ("/v1/messages/{message_id}/events", "POST"): Operation(
        "Report a click or conversion", messages.EventOut, (202,), body=messages.EventIn
    ),
    ("/v1/stats", "GET"): Operation(
        "Daily statistics (of one template, or one campaign)",
        stats.StatsOut,
        query=stats.StatsQuery,
        errors=(404,),
    ),
    ("/v1/campaigns", "POST"): Operation(
        "Create a campaign (started at once unless start is false)",
        campaigns.CampaignOut,
        (201, 200),
        body=campaigns.CampaignIn,
        headers=(IDEMPOTENCY_KEY,),
        errors=(409, 422),
    ),
    ("/v1/campaigns", "GET"): Operation(
        "List the app's campaigns, newest first",
        campaigns.CampaignList,
        query=campaigns.CampaignListQuery,
    ),
    ("/v1/campaigns/{campaign_id}", "GET"): Operation(
        "Read a campaign and its progress", campaigns.CampaignOut
    ),
    ("/v1/campaigns/{campaign_id}/recipients", "POST"): Operation(
        "Add recipients to a draft campaign",
        campaigns.RecipientsOut,
        (201,),
        body=campaigns.RecipientsIn,
        errors=(409,),
    ),
    **{
        (f"/v1/campaigns/{{campaign_id}}/{move}", "POST"): Operation(
            summary, campaigns.CampaignOut, errors=(409,)
        )
        for move, summary in (
            ("start", "Start a draft campaign (now, or at its send_at)"),
            ("pause", "Pause a running campaign"),
            ("resume", "Resume a paused campaign"),
            ("cancel", "Cancel a campaign: reserved credits go back"),
        )
    },
    ("/v1/webhooks", "POST"): Operation(
        "Add a webhook endpoint (its secret is shown only here)",
        webhooks.WebhookCreated,
        (201,),
        body=webhooks.WebhookIn,
    ),
    ("/v1/webhooks", "GET"): Operation("List the app's webhook endpoints", webhooks.WebhookList),
    (WEBHOOK, "GET"): Operation("Read a webhook endpoint", webhooks.WebhookOut),
    (WEBHOOK, "PATCH"): Operation(
        "Change a webhook endpoint (url, events, description, status)",
        webhooks.WebhookOut,
        body=webhooks.WebhookPatch,
    ),
    (WEBHOOK, "DELETE"): Operation("Delete a webhook endpoint", success=(204,)),
    (f"{WEBHOOK}/rotate", "POST"): Operation(
        "A new signing secret; the old one signs for 24 hours more", webhooks.SecretOut
    ),
    (f"{WEBHOOK}/test", "POST"): Operation(
        "Send a webhook.test event to this endpoint", webhooks.WebhookEventOut, (202,)
    ),
    (f"{WEBHOOK}/deliveries", "GET"): Operation(
        "The endpoint's delivery log, newest first",
        webhooks.DeliveryList,
        query=webhooks.DeliveryQuery,
    ),
    (f"{WEBHOOK}/deliveries/{{delivery_id}}/retry", "POST"): Operation(
        "Deliver an event again at once, with the same webhook-id", webhooks.WebhookEventOut, (202,)
    ),
    (CALLBACK, "GET"): Operation(
        "WeChat's check of the callback URL",
        query=CallbackQuery,
        errors=(401,),
        public=True,
        raw=True,
    ),
    (CALLBACK, "POST"): Operation(
        "WeChat's subscription events",
        query=CallbackQuery,
        errors=(400, 401, 413),
        public=True,
        raw=True,
    ),
}
# Ids that path_id() checks; other ids are any string, and unknown ones are simply not found.
CHECKED_IDS = ("template_id", "openid", "app_id")
ERRORS = {
    400: "The body is not JSON, or the request is not valid (`invalid_json`, `validation_error`)",
    401: "No API key, or not a valid one (`unauthorized`)",
    404: "No such record for this app (`not_found`)",
    409: "The request conflicts with the current state (`no_grant`, `opted_out`, ...)",
    413: "The body is larger than 64 KiB (`payload_too_large`)",
    415: "The body is not `application/json` (`unsupported_media_type`)",
    422: "The Idempotency-Key was used with another body (`idempotency_key_mismatch`)",
    429: "The app is over its requests a second (`rate_limited`); see Retry-After",
    503: "Not ready yet, or the table was busy past the request's deadline (`unavailable`)",
}
