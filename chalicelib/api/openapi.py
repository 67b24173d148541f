"""The OpenAPI 3.1 document of the HTTP API: Chalice's route table plus the pydantic models."""

from __future__ import annotations

import copy
import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from chalice import Chalice
from chalice.app import RouteEntry
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import schemas as s
from chalicelib.api import webhook_schemas as w
from chalicelib.api.http import PATH_ID
from chalicelib.services.callback import CallbackQuery

JSON = "application/json"
TEXT = "text/plain"
REF = "#/components/schemas/{model}"
SECURITY = "apiKey"
Mode = Literal["validation", "serialization"]


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
        "Readiness: 200 once every route can serve", s.Health, public=True, errors=(503,)
    ),
    ("/v1/openapi.json", "GET"): Operation("This document", public=True),
    ("/v1/templates", "GET"): Operation("List the app's templates", s.TemplateList),
    ("/v1/templates/{template_id}", "PUT"): Operation(
        "Create or replace a template", s.TemplateOut, (201, 200), body=s.TemplateIn
    ),
    ("/v1/templates/{template_id}", "GET"): Operation("Read a template", s.TemplateOut),
    ("/v1/templates/{template_id}", "DELETE"): Operation("Delete a template", success=(204,)),
    ("/v1/grants", "POST"): Operation(
        "Report a requestSubscribeMessage result", s.GrantsOut, (201,), body=s.GrantsIn
    ),
    ("/v1/activity", "POST"): Operation(
        "Record when users were active (the best send time learns from it)",
        s.ActivityOut,
        (202,),
        body=s.ActivityIn,
    ),
    ("/v1/users/{openid}/subscriptions", "GET"): Operation(
        "Credits, subscriptions and prompt advice of a user", s.SubscriptionsOut
    ),
    ("/v1/users/{openid}/preferences", "GET"): Operation("Read preferences", s.PreferencesOut),
    ("/v1/users/{openid}/preferences", "PUT"): Operation(
        "Change preferences", s.PreferencesOut, body=s.PreferencesIn
    ),
    ("/v1/users/{openid}", "DELETE"): Operation("Erase everything about a user", success=(204,)),
    ("/v1/users/{openid}/messages", "GET"): Operation(
        "List a user's messages", s.MessageList, query=s.ListQuery
    ),
    ("/v1/messages", "POST"): Operation(
        "Send or schedule a message",
        s.MessageOut,
        (201, 200),
        body=s.MessageIn,
        headers=(IDEMPOTENCY_KEY,),
        errors=(404, 409, 422),
    ),
    ("/v1/messages/{message_id}", "GET"): Operation("Read a message", s.MessageOut),
    ("/v1/messages/{message_id}", "PATCH"): Operation(
        "Move a scheduled message", s.MessageOut, body=s.RescheduleIn, errors=(409,)
    ),
    ("/v1/messages/{message_id}", "DELETE"): Operation(
        "Cancel a message and refund its credit", s.CancelOut, errors=(409,)
    ),
    ("/v1/messages/{message_id}/events", "POST"): Operation(
        "Report a click or conversion", s.EventOut, (202,), body=s.EventIn
    ),
    ("/v1/stats", "GET"): Operation(
        "Daily statistics (of one template, or one campaign)",
        s.StatsOut,
        query=s.StatsQuery,
        errors=(404,),
    ),
    ("/v1/campaigns", "POST"): Operation(
        "Create a campaign (started at once unless start is false)",
        s.CampaignOut,
        (201, 200),
        body=s.CampaignIn,
        headers=(IDEMPOTENCY_KEY,),
        errors=(409, 422),
    ),
    ("/v1/campaigns", "GET"): Operation(
        "List the app's campaigns, newest first", s.CampaignList, query=s.CampaignListQuery
    ),
    ("/v1/campaigns/{campaign_id}", "GET"): Operation(
        "Read a campaign and its progress", s.CampaignOut
    ),
    ("/v1/campaigns/{campaign_id}/recipients", "POST"): Operation(
        "Add recipients to a draft campaign",
        s.RecipientsOut,
        (201,),
        body=s.RecipientsIn,
        errors=(409,),
    ),
    **{
        (f"/v1/campaigns/{{campaign_id}}/{move}", "POST"): Operation(
            summary, s.CampaignOut, errors=(409,)
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
        w.WebhookCreated,
        (201,),
        body=w.WebhookIn,
    ),
    ("/v1/webhooks", "GET"): Operation("List the app's webhook endpoints", w.WebhookList),
    (WEBHOOK, "GET"): Operation("Read a webhook endpoint", w.WebhookOut),
    (WEBHOOK, "PATCH"): Operation(
        "Change a webhook endpoint (url, events, description, status)",
        w.WebhookOut,
        body=w.WebhookPatch,
    ),
    (WEBHOOK, "DELETE"): Operation("Delete a webhook endpoint", success=(204,)),
    (f"{WEBHOOK}/rotate", "POST"): Operation(
        "A new signing secret; the old one signs for 24 hours more", w.SecretOut
    ),
    (f"{WEBHOOK}/test", "POST"): Operation(
        "Send a webhook.test event to this endpoint", w.WebhookEventOut, (202,)
    ),
    (f"{WEBHOOK}/deliveries", "GET"): Operation(
        "The endpoint's delivery log, newest first", w.DeliveryList, query=w.DeliveryQuery
    ),
    (f"{WEBHOOK}/deliveries/{{delivery_id}}/retry", "POST"): Operation(
        "Deliver an event again at once, with the same webhook-id", w.WebhookEventOut, (202,)
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


def document(app: Chalice) -> dict[str, Any]:
    """The document of every route of ``app``; built once per container, a fresh copy per call."""
    return copy.deepcopy(_build(app))


@functools.lru_cache(maxsize=4)
def _build(app: Chalice) -> dict[str, Any]:
    entries = [entry for methods in app.routes.values() for entry in methods.values()]
    names = Counter(entry.view_name for entry in entries)
    refs, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for entry in entries:
        unique = names[entry.view_name] == 1
        operation = OPERATIONS.get((entry.uri_pattern, entry.method), Operation(entry.view_name))
        spec = _operation(entry, operation, refs, unique)
        paths.setdefault(entry.uri_pattern, {})[entry.method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "submsg", "version": "1", "description": "Subscription messages."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {SECURITY: {"type": "http", "scheme": "bearer"}},
        },
    }


@functools.cache
def _schemas() -> tuple[dict[tuple[type[BaseModel], Mode], dict[str, Any]], dict[str, Any]]:
    wanted: set[tuple[type[BaseModel], Mode]] = {(s.ErrorOut, "serialization")}
    for operation in OPERATIONS.values():
        wanted.update((model, "validation") for model in (operation.body, operation.query) if model)
        if operation.answer:
            wanted.add((operation.answer, "serialization"))
    ordered = sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(ordered, ref_template=REF)
    return dict(refs), top.get("$defs", {})


def _operation(
    entry: RouteEntry, operation: Operation, refs: dict[Any, dict[str, Any]], unique: bool
) -> dict[str, Any]:
    method = entry.method.lower()
    spec: dict[str, Any] = {
        "operationId": entry.view_name if unique else f"{entry.view_name}_{method}",
        "summary": operation.summary,
        "tags": [entry.uri_pattern.split("/")[2]],
        "security": [] if operation.public else [{SECURITY: []}],
        "parameters": _parameters(entry, operation, refs),
        "responses": _responses(entry, operation, refs),
    }
    if operation.raw and method == "post":
        spec["requestBody"] = _raw_body()
    elif operation.body:
        schema = refs[(operation.body, "validation")]
        spec["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    return spec


def _parameters(
    entry: RouteEntry, operation: Operation, refs: dict[Any, dict[str, Any]]
) -> list[dict[str, Any]]:
    found = [
        {"name": arg, "in": "path", "required": True, "schema": _path_schema(arg)}
        for arg in entry.view_args
    ]
    if operation.query:
        found += _query_parameters(_resolved(refs[(operation.query, "validation")]))
    return found + list(operation.headers)


def _path_schema(name: str) -> dict[str, Any]:
    if name in CHECKED_IDS:
        return {"type": "string", "pattern": PATH_ID.pattern}
    return {"type": "string"}


def _query_parameters(model_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(model_schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)}
        for name, prop in model_schema["properties"].items()
    ]


def _resolved(reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[1]
    return _schemas()[1][name]


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: the ``null`` of ``X | None`` cannot be sent."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
    branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        return {**schema, **branches[0]}
    return {**schema, "anyOf": branches} if branches else schema


def _responses(
    entry: RouteEntry, operation: Operation, refs: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status in operation.success:
        answers[str(status)] = _success(status, operation, refs)
    error = {"content": {JSON: {"schema": refs[(s.ErrorOut, "serialization")]}}}
    for status in sorted(_error_statuses(entry, operation)):
        answers[str(status)] = {"description": ERRORS[status], **error}
    return answers


def _success(status: int, operation: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if status == 204:
        return {"description": "Done; no content"}
    if operation.raw:
        return {"description": "Plain text", "content": {TEXT: {"schema": {"type": "string"}}}}
    schema = refs[(operation.answer, "serialization")] if operation.answer else {"type": "object"}
    return {"description": "OK", "content": {JSON: {"schema": schema}}}


def _error_statuses(entry: RouteEntry, operation: Operation) -> set[int]:
    statuses = {*operation.errors, 503}  # any route: a table busy until the deadline
    if not operation.public:
        statuses.update((401, 429))
    if entry.view_args:
        statuses.add(404)
    if operation.query and not operation.raw:
        statuses.add(400)
    if operation.body:
        statuses.update((400, 413, 415))
    return statuses


def _raw_body() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "text/xml": {"schema": {"type": "string"}},
            JSON: {"schema": {"type": "object"}},
        },
    }
