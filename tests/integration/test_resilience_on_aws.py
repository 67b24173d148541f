"""The retry policy on the embedded AWS, with DynamoDB's own error shapes injected in front of it
(docs/resilience.md): what botocore parses from them is what a deployed stack sees."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import bootstrap
from tests.support.events import drain
from tests.support.tenants import OPENID, TEMPLATE

pytestmark = pytest.mark.embedded_aws


def error(code: str, **fields: Any) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **fields}


def answer(client: Any, operation: str, body: dict[str, Any], times: int | None = 1) -> list[int]:
    """DynamoDB answers the next ``times`` ``operation`` requests (None: all) with this 400 error;
    moto never sees them. The list counts the answers given."""
    given: list[int] = []

    def intercept(request: Any, **_: Any) -> AWSResponse | None:
        if times is not None and len(given) >= times:
            return None
        given.append(1)
        request.url = "https://injected.invalid/"
        raw = MockRawResponse(json.dumps(body).encode())
        return AWSResponse(request.url, 400, {"x-amzn-RequestId": "injected"}, raw)

    client.meta.events.register_first(f"before-send.dynamodb.{operation}", intercept)
    return given


def conflict(reasons: int) -> dict[str, Any]:
    """A transaction canceled by a conflict on its second item, as DynamoDB reports it."""
    codes = [{"Code": "None"}] * reasons
    codes[1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    return error("TransactionCanceledException", CancellationReasons=codes)


@pytest.fixture
def dynamodb(services) -> Any:
    return services.store.table.client


def credits(api) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == TEMPLATE)


def test_a_reservation_canceled_by_conflicts_is_retried_and_takes_one_credit(api, dynamodb):
    api.put_template()
    api.grant()
    given = answer(dynamodb, "TransactWriteItems", conflict(5), times=3)

    created = api.send()

    assert created.status_code == 201, created.json_body
    assert len(given) == 3
    assert credits(api) == 0
    assert api.send().json_body["error"]["code"] == "no_grant"  # the credit was taken once


def test_a_single_write_meeting_a_transaction_is_retried(api, dynamodb):
    api.put_template()
    given = answer(dynamodb, "UpdateItem", error("TransactionConflictException"), times=2)

    listed = api.call("GET", "/v1/templates")  # its rate limit's counter: an UpdateItem

    assert listed.status_code == 200
    assert len(given) == 2


def test_throttling_past_botocores_retries_and_the_deadline_answers_503(api, dynamodb, monkeypatch):
    api.put_template()
    api.grant()
    monkeypatch.setenv("SUBMSG_REQUEST_DEADLINE_S", "0.5")
    bootstrap.reset()
    table = bootstrap.services().store.table.client
    given = answer(table, "TransactWriteItems", error("ThrottlingException"), times=None)

    refused = api.send()

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert refused.json_body["error"]["code"] == "unavailable"
    assert len(given) >= 3  # botocore's own retries (3 attempts), then ours


def test_the_record_of_a_sent_card_meeting_conflicts_lands(api, client, backend, wx, dynamodb):
    api.put_template()
    api.grant()
    created = api.send().json_body
    # the claim lands; the record of WeChat's answer meets two conflicts
    records: list[int] = []

    def on_record(request: Any, **_: Any) -> AWSResponse | None:
        body = json.loads(request.body)
        updates = [i["Update"] for i in body["TransactItems"] if "Update" in i]
        values = [json.dumps(u.get("ExpressionAttributeValues", {})) for u in updates]
        if not any('"sent"' in v for v in values) or len(records) >= 2:
            return None
        records.append(1)
        request.url = "https://injected.invalid/"
        raw = MockRawResponse(json.dumps(conflict(len(body["TransactItems"]))).encode())
        return AWSResponse(request.url, 400, {"x-amzn-RequestId": "injected"}, raw)

    dynamodb.meta.events.register_first("before-send.dynamodb.TransactWriteItems", on_record)

    drain(client, backend, rounds=1)

    found = api.call("GET", f"/v1/messages/{created['id']}").json_body
    assert len(records) == 2
    assert found["status"] == "sent"
    assert len(wx.sent) == 1
