"""Bad input of every kind gets a 4xx in the docs/api.md#errors format and writes nothing."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import bootstrap
from tests.support.aws import moto_stack
from tests.support.clocks import pinned_for_the_module
from tests.support.tenants import OPENID, TEMPLATE, Api, make_tenant

pinned_clock = pinned_for_the_module()

SNAKE_CASE = re.compile(r"^[a-z]+(_[a-z]+)*$")
UNKNOWN_MESSAGE = "msg_0000000000000000000000000000"
UNKNOWN_WEBHOOK = "whk_0000000000000000000000000000"
APP_NUMBERS = itertools.count(1001)

# Every route; {message} stands for a real message of the world's app, {campaign}, {webhook} and
# {delivery} for its campaign, webhook endpoint and a delivery of that endpoint.
ROUTES = [
    ("GET", "/v1/templates"),
    ("PUT", f"/v1/templates/{TEMPLATE}"),
    ("GET", f"/v1/templates/{TEMPLATE}"),
    ("DELETE", f"/v1/templates/{TEMPLATE}"),
    ("POST", "/v1/grants"),
    ("POST", "/v1/activity"),
    ("GET", f"/v1/users/{OPENID}/subscriptions"),
    ("GET", f"/v1/users/{OPENID}/preferences"),
    ("PUT", f"/v1/users/{OPENID}/preferences"),
    ("DELETE", f"/v1/users/{OPENID}"),
    ("GET", f"/v1/users/{OPENID}/messages"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages/{message}"),
    ("PATCH", "/v1/messages/{message}"),
    ("DELETE", "/v1/messages/{message}"),
    ("POST", "/v1/messages/{message}/events"),
    ("GET", "/v1/stats"),
    ("POST", "/v1/campaigns"),
    ("GET", "/v1/campaigns"),
    ("GET", "/v1/campaigns/{campaign}"),
    ("POST", "/v1/campaigns/{campaign}/recipients"),
    ("POST", "/v1/campaigns/{campaign}/start"),
    ("POST", "/v1/campaigns/{campaign}/pause"),
    ("POST", "/v1/campaigns/{campaign}/resume"),
    ("POST", "/v1/campaigns/{campaign}/cancel"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{webhook}"),
    ("PATCH", "/v1/webhooks/{webhook}"),
    ("DELETE", "/v1/webhooks/{webhook}"),
    ("POST", "/v1/webhooks/{webhook}/rotate"),
    ("POST", "/v1/webhooks/{webhook}/test"),
    ("GET", "/v1/webhooks/{webhook}/deliveries"),
    ("POST", "/v1/webhooks/{webhook}/deliveries/{delivery}/retry"),
]
PUBLIC = [
    ("GET", "/v1/health"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/wechat/{app_id}/callback"),
    ("POST", "/v1/wechat/{app_id}/callback"),
]
# The moves of a campaign and a webhook's rotate, test and retry take no body (whatever is sent is
# ignored).
MOVES = ("/start", "/pause", "/resume", "/cancel", "/rotate", "/test", "/retry")
BODY_ROUTES = [(m, p) for m, p in ROUTES if m in ("PUT", "POST", "PATCH") and not p.endswith(MOVES)]

THING = {"thing1": "Blue mug", "character_string2": "SO-2026-0001"}
MESSAGE_BODY = {"openid": OPENID, "template_id": TEMPLATE, "data": THING}
TEMPLATE_BODY = {
    "title": "Order shipped",
    "kind": "one_time",
    "category": "transactional",
    "keywords": [{"key": "thing1", "name": "Item"}],
}


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def stats_around_today() -> str:
    return f"/v1/stats?from={day(-1)}&to={day(1)}"


@dataclass
class World:
    """An app with a template, a user holding two credits and a message scheduled in 2 days."""

    api: Api
    message_id: str
    campaign_id: str
    webhook_id: str
    delivery_id: str

    def path(self, template: str) -> str:
        return template.format(
            message=self.message_id,
            campaign=self.campaign_id,
            webhook=self.webhook_id,
            delivery=self.delivery_id,
        )

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return self.api.call(method, self.path(path), body, headers)

    def raw(self, method: str, path: str, payload: bytes, headers: dict[str, str]) -> Any:
        return self.api.client.http.request(method, self.path(path), body=payload, headers=headers)

    def view(self) -> dict[str, Any]:
        """Everything the app's own key can read about its records."""
        reads = {
            "template": f"/v1/templates/{TEMPLATE}",
            "message": "/v1/messages/{message}",
            "subscriptions": f"/v1/users/{OPENID}/subscriptions",
            "preferences": f"/v1/users/{OPENID}/preferences",
            "messages": f"/v1/users/{OPENID}/messages",
            "stats": stats_around_today(),
        }
        return {name: self.call("GET", path).json_body for name, path in reads.items()}

    def credits(self) -> int:
        items = self.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
        return next(item["credits"] for item in items if item["template_id"] == TEMPLATE)


@cache
def inspecting(service: str) -> Any:
    """The client that reads what the tests stored (made once: a client costs more than a scan)."""
    return boto3.client(service)


def stored() -> tuple[list[str], str]:
    """Every item of the table and the depth of the send queue: all that a request can write."""
    table, queue = os.environ["SUBMSG_TABLE_NAME"], os.environ["SUBMSG_SEND_QUEUE_URL"]
    pages = inspecting("dynamodb").get_paginator("scan").paginate(TableName=table)
    items = sorted(
        json.dumps(item, sort_keys=True)
        for page in pages
        for item in page["Items"]
        if not item["pk"]["S"].startswith("RATE#")  # a refused request still counts: metering
    )
    attributes = inspecting("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return items, attributes["Attributes"]["ApproximateNumberOfMessages"]


@pytest.fixture(scope="module")
def stack() -> Iterator[Client]:
    """One moto account for the module; apps of their own keep the tests apart."""
    from app import app

    with (
        pytest.MonkeyPatch.context() as env,
        moto_stack(env),
        Client(app, stage_name="dev") as client,
    ):
        yield client


UNLIMITED = 100_000  # refusals follow each other as fast as the machine goes: over 100 a second


def new_api(client: Client) -> Api:
    """A new app whose rate limit no test here reaches: the limiter has tests of its own."""
    app_id = f"wx{next(APP_NUMBERS):016d}"
    tenant = make_tenant(
        bootstrap.services(), app_id, quiet_hours=None, requests_per_second=UNLIMITED
    )
    return Api(client, tenant)


def new_world(client: Client) -> World:
    api = new_api(client)
    assert api.put_template().status_code == 201
    for _ in range(3):
        assert api.grant().status_code == 201
    created = api.send(send_at=later(2))
    assert created.status_code == 201, created.json_body
    draft = api.call(
        "POST",
        "/v1/campaigns",
        {
            "name": "Draft",
            "template_id": TEMPLATE,
            "audience": {"openids": [OPENID]},
            "data": THING,
            "start": False,
        },
    )
    assert draft.status_code == 201, draft.json_body
    hook = api.call("POST", "/v1/webhooks", {"url": "https://receiver.example/hooks"})
    assert hook.status_code == 201, hook.json_body
    tested = api.call("POST", f"/v1/webhooks/{hook.json_body['id']}/test")
    assert tested.status_code == 202, tested.json_body
    ids = (created.json_body["id"], draft.json_body["id"])
    return World(api, *ids, hook.json_body["id"], tested.json_body["id"])


@pytest.fixture(scope="module")
def world(stack: Client) -> World:
    """Shared by the tests of refused requests, each of which proves it left the world unchanged."""
    return new_world(stack)


@pytest.fixture
def fresh_world(stack: Client) -> World:
    return new_world(stack)


@pytest.fixture
def other(stack: Client) -> Api:
    """A second app, with its own key, that holds nothing."""
    return new_api(stack)


@pytest.fixture
def unchanged() -> Iterator[None]:
    """The test's requests are all refused: the table and the queue end as they began."""
    before = stored()
    yield
    assert stored() == before


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json_body["error"]
    assert error["code"] == code
    assert SNAKE_CASE.match(error["code"])
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "fields"}
    for problem in error.get("fields", []):
        assert set(problem) == {"field", "problem"}
        assert problem["field"] and problem["problem"]
    return error


def fields_of(error: dict[str, Any]) -> set[str]:
    return {problem["field"] for problem in error.get("fields", [])}


def test_the_route_tables_cover_every_route_of_the_app():
    from app import app

    def shape(path: str) -> str:
        return re.sub(r"/(Tpl|oUser)[^/]*|/\{[a-z_]+\}", "/{}", path)

    declared = {(m, shape(p)) for m, p in ROUTES + PUBLIC}
    actual = {(m, shape(p)) for p, methods in app.routes.items() for m in methods}
    assert declared == actual


# Bodies and queries ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_malformed_json_is_invalid_json(world, unchanged, method, path):
    for payload in (b"{", b'{"openid": }', b"\xff\xfe", b"{'a': 1}", b"", b"[" * 10_000):
        response = world.raw(method, path, payload, world.api.tenant.headers)

        assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_json_body_that_is_not_an_object_is_a_validation_error(world, unchanged, method, path):
    for payload in (b"[]", b'[{"openid": "o1"}]', b"42", b"-1.5", b'"text"', b"null", b"true"):
        response = world.raw(method, path, payload, world.api.tenant.headers)

        error = assert_error(response, 400, "validation_error")
        assert fields_of(error) == {"body"}, payload


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_over_64_kib_is_payload_too_large(world, unchanged, method, path):
    payload = json.dumps({**MESSAGE_BODY, "padding": "x" * (64 * 1024)}).encode()

    response = world.raw(method, path, payload, world.api.tenant.headers)

    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_not_sent_as_json_is_unsupported_media_type(world, unchanged, method, path):
    key = {"Authorization": world.api.tenant.headers["Authorization"]}
    for content_type in (
        None,
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ):
        headers = {**key, "Content-Type": content_type} if content_type else key

        response = world.raw(method, path, b'{"type": "click"}', headers)

        assert_error(response, 415, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(fresh_world):
    headers = {**fresh_world.api.tenant.headers, "Content-Type": "application/json; charset=utf-8"}

    response = fresh_world.raw(
        "POST", "/v1/messages/{message}/events", b'{"type": "click"}', headers
    )

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"),
    [
        ("PUT", f"/v1/templates/{TEMPLATE}", {**TEMPLATE_BODY, "title": "x" * 65}, {"title"}),
        (
            "PUT",
            f"/v1/templates/{TEMPLATE}",
            {**TEMPLATE_BODY, "kind": "weekly", "grant_ttl_days": -1},
            {"kind", "grant_ttl_days"},
        ),
        ("PUT", f"/v1/templates/{TEMPLATE}", {**TEMPLATE_BODY, "color": "red"}, {"color"}),
        (
            "PUT",
            f"/v1/templates/{TEMPLATE}",
            {**TEMPLATE_BODY, "content": "a:{{thing1.DATA}}"},
            {"body"},
        ),
        (
            "PUT",
            f"/v1/templates/{TEMPLATE}",
            {**TEMPLATE_BODY, "keywords": [{"key": "thing", "name": "Item"}]},
            {"keywords[0].key"},
        ),
        (
            "POST",
            "/v1/grants",
            {"openid": OPENID, "results": {TEMPLATE: "maybe"}},
            {f"results.{TEMPLATE}"},
        ),
        ("POST", "/v1/grants", {"openid": "not an openid", "results": {}}, {"openid", "results"}),
        (
            "POST",
            "/v1/grants",
            {"openid": OPENID, "results": {"TplNobodyHas": "accept"}},
            {"results.TplNobodyHas"},
        ),
        (
            "POST",
            "/v1/activity",
            {"events": [{"openid": OPENID}]},
            {"events[0].at", "events[0].kind"},
        ),
        ("PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_all": "yes"}, {"opt_out_all"}),
        ("PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_all": 0}, {"opt_out_all"}),
        (
            "PUT",
            f"/v1/users/{OPENID}/preferences",
            {"opt_out_categories": ["spam"]},
            {"opt_out_categories[0]"},
        ),
        ("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Mars/Olympus"}, {"timezone"}),
        ("POST", "/v1/messages", {"openid": OPENID, "template_id": TEMPLATE}, {"data"}),
        ("POST", "/v1/messages", {**MESSAGE_BODY, "send_at": "2026-11-22T09:30:00"}, {"send_at"}),
        ("POST", "/v1/messages", {**MESSAGE_BODY, "send_at": 0}, {"send_at"}),
        ("POST", "/v1/messages", {**MESSAGE_BODY, "urgent": 1}, {"urgent"}),
        (
            "POST",
            "/v1/messages",
            {**MESSAGE_BODY, "data": {**THING, "thing1": "x" * 21}},
            {"data.thing1"},
        ),
        (
            "POST",
            "/v1/messages",
            {**MESSAGE_BODY, "data": {"thing1": "a\nb", "character_string2": "订单"}},
            {"data.thing1", "data.character_string2"},
        ),
        (
            "POST",
            "/v1/messages",
            {**MESSAGE_BODY, "data": {"thing1": "Mug"}},
            {"data.character_string2"},
        ),
        (
            "POST",
            "/v1/messages",
            {**MESSAGE_BODY, "data": {**THING, "phrase3": "好"}},
            {"data.phrase3"},
        ),
        ("POST", "/v1/messages", {**MESSAGE_BODY, "send_at": later(400)}, {"send_at"}),
        ("PATCH", "/v1/messages/{message}", {"send_at": "tomorrow"}, {"send_at"}),
        ("PATCH", "/v1/messages/{message}", {}, {"send_at"}),
        ("POST", "/v1/messages/{message}/events", {"type": "view"}, {"type"}),
        ("POST", "/v1/messages/{message}/events", {"type": "conversion", "value": -1}, {"value"}),
        ("POST", "/v1/webhooks", {}, {"url"}),
        ("POST", "/v1/webhooks", {"url": "ftp://receiver.example/hooks"}, {"url"}),
        ("POST", "/v1/webhooks", {"url": "https://169.254.169.254/latest/meta-data/"}, {"url"}),
        ("POST", "/v1/webhooks", {"url": "https://[::1]:8443/hooks"}, {"url"}),
        (
            "POST",
            "/v1/webhooks",
            {"url": "https://receiver.example/", "events": ["x"]},
            {"events[0]"},
        ),
        ("POST", "/v1/webhooks", {"url": "https://receiver.example/", "color": "red"}, {"color"}),
        ("PATCH", "/v1/webhooks/{webhook}", {"url": "http://10.0.0.1/hooks"}, {"url"}),
        ("PATCH", "/v1/webhooks/{webhook}", {"status": "paused"}, {"status"}),
    ],
)
def test_a_body_that_breaks_the_rules_names_every_failing_field(
    world, unchanged, method, path, body, fields
):
    error = assert_error(world.call(method, path, body), 400, "validation_error")

    assert fields_of(error) == fields


def test_a_thing_longer_than_20_characters_is_reported_as_such(world, unchanged):
    body = {**MESSAGE_BODY, "data": {**THING, "thing1": "很" * 21}}

    error = assert_error(world.call("POST", "/v1/messages", body), 400, "validation_error")

    assert error["fields"] == [{"field": "data.thing1", "problem": "longer than 20 characters"}]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (f"/v1/users/{OPENID}/messages?limit=0", {"limit"}),
        (f"/v1/users/{OPENID}/messages?limit=many", {"limit"}),
        (f"/v1/users/{OPENID}/messages?status=lost", {"status"}),
        (f"/v1/users/{OPENID}/messages?cursor=not-a-cursor", {"cursor"}),
        (f"/v1/users/{OPENID}/messages?colour=red", {"colour"}),
        ("/v1/stats", {"from", "to"}),
        ("/v1/stats?from=2026-02-30&to=2026-03-01", {"from"}),
        ("/v1/stats?from=2026-03-02&to=2026-03-01", {"query"}),
        ("/v1/stats?from=2024-01-01&to=2026-01-01", {"query"}),
        ("/v1/stats?from=2026-01-01&to=2026-01-02&template_id=no%20such", {"template_id"}),
    ],
)
def test_a_query_that_breaks_the_rules_names_every_failing_field(world, unchanged, path, fields):
    error = assert_error(world.call("GET", path), 400, "validation_error")

    assert fields_of(error) == fields


@pytest.mark.parametrize("key", ["", "\u00e9t\u00e9", "tab\there", "x" * 256])
def test_a_bad_idempotency_key_is_a_validation_error(world, unchanged, key):
    response = world.api.send(headers={"Idempotency-Key": key})

    error = assert_error(response, 400, "validation_error")
    assert fields_of(error) == {"Idempotency-Key"}


# Ids, keys and methods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/templates/TplNobodyHas", None),
        ("DELETE", "/v1/templates/TplNobodyHas", None),
        ("GET", "/v1/templates/not.an.id", None),
        ("GET", f"/v1/messages/{UNKNOWN_MESSAGE}", None),
        ("GET", "/v1/messages/anything", None),
        ("PATCH", f"/v1/messages/{UNKNOWN_MESSAGE}", {"send_at": "2026-11-22T09:30:00+08:00"}),
        ("DELETE", f"/v1/messages/{UNKNOWN_MESSAGE}", None),
        ("POST", f"/v1/messages/{UNKNOWN_MESSAGE}/events", {"type": "click"}),
        ("POST", "/v1/messages", {**MESSAGE_BODY, "template_id": "TplNobodyHas"}),
        ("GET", "/v1/users/not.an.openid/subscriptions", None),
        ("PUT", "/v1/users/not.an.openid/preferences", {"opt_out_all": True}),
        ("DELETE", "/v1/users/not.an.openid", None),
        ("GET", "/v1/campaigns/cmp_0000000000000000000000000000", None),
        ("GET", "/v1/campaigns/anything", None),
        ("POST", "/v1/campaigns/cmp_0000000000000000000000000000/start", None),
        (
            "POST",
            "/v1/campaigns/cmp_0000000000000000000000000000/recipients",
            {"recipients": [{"openid": OPENID}]},
        ),
        ("GET", "/v1/stats?from=2026-11-01&to=2026-11-02&campaign_id=cmp_nope", None),
        ("GET", f"/v1/webhooks/{UNKNOWN_WEBHOOK}", None),
        ("PATCH", f"/v1/webhooks/{UNKNOWN_WEBHOOK}", {"description": "x"}),
        ("POST", f"/v1/webhooks/{UNKNOWN_WEBHOOK}/test", None),
        ("GET", "/v1/webhooks/anything/deliveries", None),
        ("POST", "/v1/webhooks/{webhook}/deliveries/evt_0000000000000000000000000000/retry", None),
    ],
)
def test_an_unknown_id_is_not_found(world, unchanged, method, path, body):
    assert_error(world.call(method, path, body), 404, "not_found")


def overlong(path: str, length: int) -> str:
    """``path`` with its id made ``length`` characters long (keeping the id's prefix)."""
    ids = {
        OPENID: "oUser",
        TEMPLATE: "Tpl",
        "{message}": "msg_",
        "{campaign}": "cmp_",
        "{webhook}": "whk_",
        "{delivery}": "evt_",
        "{app_id}": "wx",
    }
    for found, prefix in ids.items():
        if found in path:
            return path.replace(found, prefix + "a" * (length - len(prefix)))
    raise AssertionError(f"no id in {path}")


ID_ROUTES = [
    (method, path)
    for method, path in ROUTES + PUBLIC
    if any(
        found in path
        for found in (OPENID, TEMPLATE, "{message}", "{campaign}", "{webhook}", "{app_id}")
    )
]


@pytest.mark.parametrize("length", [129, 1025, 2049])  # ours, DynamoDB's sort and partition key
@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_an_id_over_its_length_is_not_found_before_any_aws_call(
    world, method, path, length, monkeypatch
):
    import botocore.client

    assert world.call("GET", "/v1/templates").status_code == 200  # the key is known by now
    calls: list[str] = []

    def no_aws(client: object, operation: str, params: object) -> None:
        calls.append(operation)
        raise AssertionError(f"an AWS call: {operation}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", no_aws)
    headers = world.api.tenant.headers
    response = world.raw(method, overlong(path, length), b"{}", headers)

    assert_error(response, 404, "not_found")
    assert calls == []


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_missing_or_unknown_api_key_is_unauthorized(world, unchanged, method, path):
    key = world.api.tenant.api_key
    for authorization in (None, "", "Bearer", "Bearer ", f"Bearer {key}x", f"Basic {key}"):
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization

        response = world.raw(method, path, json.dumps(MESSAGE_BODY).encode(), headers)

        assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/v1/templates"),
        ("POST", f"/v1/templates/{TEMPLATE}"),
        ("GET", "/v1/grants"),
        ("DELETE", "/v1/grants"),
        ("POST", "/v1/health"),
        ("PUT", "/v1/stats"),
        ("GET", "/v1/messages"),
        ("PUT", "/v1/messages/{message}"),
        ("DELETE", "/v1/openapi.json"),
    ],
)
def test_a_method_the_route_lacks_is_405_in_the_error_format(world, unchanged, method, path):
    assert_error(world.call(method, path, {}), 405, "method_not_allowed")


# Tenant isolation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/v1/templates/{TEMPLATE}", None),
        ("DELETE", f"/v1/templates/{TEMPLATE}", None),
        ("GET", "/v1/messages/{message}", None),
        ("PATCH", "/v1/messages/{message}", {"send_at": later(3)}),
        ("DELETE", "/v1/messages/{message}", None),
        ("POST", "/v1/messages/{message}/events", {"type": "click"}),
        ("POST", "/v1/messages", MESSAGE_BODY),
        ("GET", "/v1/webhooks/{webhook}", None),
        ("PATCH", "/v1/webhooks/{webhook}", {"description": "theirs"}),
        ("DELETE", "/v1/webhooks/{webhook}", None),
        ("POST", "/v1/webhooks/{webhook}/rotate", None),
        ("POST", "/v1/webhooks/{webhook}/test", None),
        ("GET", "/v1/webhooks/{webhook}/deliveries", None),
        ("POST", "/v1/webhooks/{webhook}/deliveries/{delivery}/retry", None),
    ],
)
def test_another_apps_key_finds_none_of_the_first_apps_records(
    world, other, unchanged, method, path, body
):
    assert_error(other.call(method, world.path(path), body), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", f"/v1/templates/{TEMPLATE}", {**TEMPLATE_BODY, "title": "Theirs"}, 201),
        ("POST", "/v1/grants", {"openid": OPENID, "results": {TEMPLATE: "accept"}}, 400),
        ("PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_all": True}, 200),
        ("DELETE", f"/v1/users/{OPENID}", None, 204),
    ],
)
def test_another_apps_writes_land_in_its_own_records_only(world, other, method, path, body, status):
    before = world.view()

    assert other.call(method, path, body).status_code == status

    assert world.view() == before


def test_another_app_sees_the_same_openid_as_a_stranger(fresh_world, other):
    assert fresh_world.call("PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_all": True})
    assert fresh_world.call("POST", "/v1/messages/{message}/events", {"type": "click"})

    assert other.call("GET", "/v1/templates").json_body == {"items": []}
    assert other.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"] == []
    assert other.call("GET", f"/v1/users/{OPENID}/preferences").json_body["opt_out_all"] is False
    assert other.call("GET", f"/v1/users/{OPENID}/messages").json_body["items"] == []
    theirs = other.call("GET", stats_around_today()).json_body["totals"]
    assert theirs["requested"] == 0 and theirs["clicked"] == 0
    assert fresh_world.call("GET", stats_around_today()).json_body["totals"]["requested"] == 1


# Nothing half written --------------------------------------------------------------------------


def rejected_sends() -> list[Any]:
    return [
        pytest.param(
            {**MESSAGE_BODY, "data": {**THING, "thing1": "x" * 21}}, {}, 400, id="keyword rule"
        ),
        pytest.param(
            {**MESSAGE_BODY, "template_id": "TplNobodyHas"}, {}, 404, id="unknown template"
        ),
        pytest.param({**MESSAGE_BODY, "send_at": later(8)}, {}, 409, id="grants expire first"),
        pytest.param({**MESSAGE_BODY, "send_at": later(400)}, {}, 400, id="too far ahead"),
        pytest.param({**MESSAGE_BODY, "padding": "x" * 70_000}, {}, 413, id="too large"),
        pytest.param(
            {**MESSAGE_BODY, "urgent": True},
            {"Idempotency-Key": "order-1"},
            422,
            id="idempotency key reused",
        ),
    ]


@pytest.mark.parametrize(("body", "headers", "status"), rejected_sends())
def test_a_rejected_message_spends_no_credit_and_writes_no_message(
    fresh_world, body, headers, status
):
    assert fresh_world.api.send(headers={"Idempotency-Key": "order-1"}).status_code == 201
    seen, before = fresh_world.view(), stored()

    response = fresh_world.call("POST", "/v1/messages", body, **headers)

    assert response.status_code == status, response.json_body
    assert stored() == before
    assert fresh_world.view() == seen
    assert fresh_world.credits() == 1


def test_a_user_who_opted_out_is_refused_without_spending_a_credit(fresh_world):
    assert fresh_world.call("PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_all": True})
    seen, before = fresh_world.view(), stored()

    assert_error(fresh_world.call("POST", "/v1/messages", MESSAGE_BODY), 409, "opted_out")

    assert stored() == before
    assert fresh_world.view() == seen
    assert fresh_world.credits() == 2
