"""Listings page by page: cursors are honoured only by the listing that wrote them, and a
listing filtered by status reads a bounded number of pages per request."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import botocore.client
import pytest

from chalicelib import bootstrap
from tests.conftest import OPENID, OTHER_APP_ID, TEMPLATE, Api, make_tenant

NEIGHBOUR = "oUserNeighbour000000000000001"
THING = {"thing1": "Blue mug", "character_string2": "SO-2026-0001"}


def later(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def with_messages(api: Api, counts: dict[str, int]) -> dict[str, list[str]]:
    """``counts[openid]`` scheduled messages for each user: their ids, oldest first."""
    api.put_template()
    made: dict[str, list[str]] = {}
    for openid, count in counts.items():
        for _ in range(count):
            assert api.grant(openid).status_code == 201
        made[openid] = [api.send(openid, send_at=later(2)).json_body["id"] for _ in range(count)]
    return made


def with_campaigns(api: Api, count: int) -> None:
    body = {"name": "Draft", "template_id": TEMPLATE, "audience": {"openids": [OPENID]}}
    for _ in range(count):
        answer = api.call("POST", "/v1/campaigns", {**body, "data": THING, "start": False})
        assert answer.status_code == 201, answer.json_body


def page(api: Api, path: str, cursor: str | None = None, **query: object):
    params = {**query, **({"cursor": cursor} if cursor is not None else {})}
    text = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    return api.call("GET", f"{path}?{text}" if text else path)


def encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.fixture
def two_apps(api, client, services):
    """Two apps, each with messages for two users and two campaigns."""
    other = Api(client, make_tenant(services, OTHER_APP_ID, quiet_hours=None))
    for each in (api, other):
        with_messages(each, {OPENID: 3, NEIGHBOUR: 2})
        with_campaigns(each, 2)
    return api, other


USER_MESSAGES = f"/v1/users/{OPENID}/messages"
LISTINGS = [USER_MESSAGES, "/v1/campaigns"]


def test_a_users_messages_page_by_page_with_the_cursor_reach_every_message_once(two_apps):
    api, _ = two_apps
    seen, cursor = [], None
    while True:
        answer = page(api, USER_MESSAGES, cursor, limit=2).json_body
        seen += [item["id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


@pytest.mark.parametrize("path", LISTINGS)
def test_a_cursor_of_another_app_user_or_listing_or_a_forged_one_is_refused(two_apps, path):
    api, other = two_apps
    theirs = page(other, path, limit=1).json_body["next_cursor"]
    neighbours = page(api, f"/v1/users/{NEIGHBOUR}/messages", limit=1).json_body["next_cursor"]
    other_listing = page(api, LISTINGS[1 - LISTINGS.index(path)], limit=1).json_body["next_cursor"]
    mine = page(api, path, limit=1).json_body["next_cursor"]
    assert None not in (theirs, neighbours, other_listing, mine)
    position = json.loads(base64.urlsafe_b64decode(mine + "=" * (-len(mine) % 4)))
    forged = [
        "not-base64-at-all!!",
        mine[: len(mine) // 2],
        mine[:-1],
        encoded([1, 2]),
        encoded("[" * 1000),
        base64.urlsafe_b64encode(b"[" * 1000).decode(),
        encoded({**position, "extra": "x"}),
        encoded({key: {"S": value} for key, value in position.items()}),  # DynamoDB's own form
        encoded({"pk": {"S": f"APP#{OTHER_APP_ID}"}, "sk": {"S": "CAMP#cmp_x"}}),
        theirs,
        other_listing,
    ]
    if path == USER_MESSAGES:
        forged.append(neighbours)

    for cursor in forged:
        answer = page(api, path, cursor, limit=1)
        assert answer.status_code == 400, (cursor, answer.json_body)
        error = answer.json_body["error"]
        assert (error["code"], [f["field"] for f in error["fields"]]) == (
            "validation_error",
            ["cursor"],
        )


@pytest.fixture
def two_pages_a_request(monkeypatch):
    monkeypatch.setenv("SUBMSG_LISTING_PAGES", "2")
    monkeypatch.setenv("SUBMSG_LISTING_PAGE_ITEMS", "3")
    bootstrap.reset()


def test_a_status_filter_reads_a_bounded_number_of_pages_and_the_cursor_goes_on(
    api, two_pages_a_request, monkeypatch
):
    made = with_messages(api, {OPENID: 14})[OPENID]
    canceled = [made[1], made[8], made[12]]
    for message_id in canceled:
        assert api.call("DELETE", f"/v1/messages/{message_id}").status_code == 200
    queries = []
    real_call = botocore.client.BaseClient._make_api_call

    def counted(client, operation, params):
        if operation == "Query" and params.get("IndexName") == "by_user":
            queries.append(params)
        return real_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)

    found, cursor, requests = [], None, 0
    while True:
        before = len(queries)
        answer = page(api, USER_MESSAGES, cursor, status="canceled", limit=2).json_body
        requests += 1
        assert len(queries) - before <= 2
        found += [item["id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break

    assert found == canceled[::-1]  # newest first, each once
    assert requests >= 3  # 14 messages, 6 read a request: the cursor carried the rest
    assert len(queries) <= 2 * requests
