"""The retry policy on the embedded AWS, with DynamoDB's own error shapes injected in front of it
(docs/resilience.md): what botocore parses from them is what a deployed stack sees."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import bootstrap
from chalicelib.adapters.store.table import Update
from chalicelib.domain import clock
from chalicelib.ports import WriteName
from local.aws import faults
from local.aws.faults import Faults, Injector
from tests.support.events import drain, run_due_sweep, scheduled_event
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
    return services.core.store.table.client


def status_of(api, message_id: str) -> dict[str, Any]:
    return api.call("GET", f"/v1/messages/{message_id}").json_body


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
    table = bootstrap.services().core.store.table.client
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


class LostThenThrottled(Injector):
    """The embedded AWS applies the next transaction but loses its answer, then throttles the
    three attempts botocore makes again with its token (``max_attempts``: 3 retries): botocore
    raises a throttle for a transaction that was applied."""

    def __init__(self) -> None:
        super().__init__(Faults(throttle=1, lost=1))
        self.throttles = 0

    def draw(self, name: str) -> bool:
        if name == "lost" and not self.injected["lost"]:
            self.throttles = 3
        elif name != "throttle" or not self.throttles:
            return False
        else:
            self.throttles -= 1
        self.injected[name] += 1
        return True


def test_a_claim_applied_whose_answer_was_lost_and_its_retries_throttled_still_sends(
    api, client, backend, wx, monkeypatch
):
    """The retry policy sends the transaction again with the token of the applied attempt, so
    it is answered as applied, not refused by its own claim (the card left to become unknown)."""
    api.put_template()
    api.grant()
    created = api.send().json_body
    scripted = LostThenThrottled()
    monkeypatch.setattr(faults, "_active", scripted)

    drain(client, backend, rounds=1)

    assert dict(scripted.injected) == {"lost": 1, "throttle": 3}
    monkeypatch.setattr(faults, "_active", Injector(Faults()))
    assert api.call("GET", f"/v1/messages/{created['id']}").json_body["status"] == "sent"
    assert len(wx.sent) == 1


def test_a_counter_whose_applied_commit_lost_its_answer_is_added_once(services, monkeypatch):
    """An unconditional transaction (a counter's ADD) applied, its answer lost, botocore's
    retries of it throttled: the retry policy's next attempt carries the same token, so the
    counter is not added twice."""
    key = {"pk": "PROOF#counter", "sk": "-"}
    scripted = LostThenThrottled()
    monkeypatch.setattr(faults, "_active", scripted)

    services.core.store.table.commit({WriteName.STATS: Update(key, add={"n": 1})})

    assert dict(scripted.injected) == {"lost": 1, "throttle": 3}
    assert services.core.store.table.get(key, consistent=True)["n"] == 1


def test_a_due_sweep_whose_queues_keep_failing_leaves_its_reminders_to_the_next(
    api, client, backend, wx, pinned_clock
):
    """SQS answering 500 past botocore's retries: the sweep's batches count as not taken (no
    error out of the handler), and the next sweep enqueues the reminders."""
    import app

    api.put_template()
    api.grant()
    send_at = clock.now() + timedelta(minutes=5)
    created = api.send(send_at=send_at.isoformat()).json_body
    pinned_clock.shift(5 * 60 - 20)

    with faults.injecting("sqs_error=1") as injector:
        report = app.due_sweep(scheduled_event(), None)

    assert injector.injected["sqs_error"] > 0
    assert report["enqueued"] == 0
    assert status_of(api, created["id"])["status"] == "scheduled"
    run_due_sweep()
    pinned_clock.shift(30)
    drain(client, backend)
    assert status_of(api, created["id"])["status"] == "sent"
    assert len(wx.sent) == 1
