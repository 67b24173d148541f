"""Crashes after any AWS call, duplicates and races never lose nor double a card
(docs/exactly-once.md#when-things-go-wrong)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import botocore.client
import pytest
import time_machine

import app as app_module
from chalicelib import bootstrap
from chalicelib.domain.errors import NoGrant
from chalicelib.services import message_create
from chalicelib.services.auth import load_app
from chalicelib.services.commands import NewMessage
from local.poller import sqs_event
from tests.support.events import drain, run_due_sweep
from tests.support.tenants import APP_ID, OPENID, TEMPLATE

pytestmark = pytest.mark.embedded_aws  # crashes after AWS calls, races on DynamoDB

PIPELINE_CALLS = {
    "Query",
    "GetItem",
    "TransactWriteItems",
    "UpdateItem",
    "PutItem",
    "SendMessage",
    "SendMessageBatch",
    "ChangeMessageVisibility",
    "BatchWriteItem",
    "GetParameter",
}
TERMINAL = {"sent", "unknown", "failed", "skipped", "canceled"}


class Crash(BaseException):
    """The Lambda dies: not an Exception, so no handler of ours or Chalice's can catch it."""


@pytest.fixture
def crash_after() -> Iterator[dict[str, int | None]]:
    """Set plan["at"] = k: the k-th pipeline AWS call succeeds, then the process dies."""
    plan: dict[str, int | None] = {"at": None, "seen": 0}
    original = botocore.client.BaseClient._make_api_call

    def call(self, operation, params):
        answer = original(self, operation, params)
        if plan["at"] is not None and operation in PIPELINE_CALLS:
            plan["seen"] += 1
            if plan["seen"] == plan["at"]:
                plan["at"] = None
                raise Crash(operation)
        return answer

    botocore.client.BaseClient._make_api_call = call
    yield plan
    botocore.client.BaseClient._make_api_call = original


def user_messages(api) -> list[dict]:
    return api.call("GET", f"/v1/users/{OPENID}/messages").json_body["items"]


def recover(api, client, aws, rounds: int = 6) -> None:
    """Time passes: leases and visibility timeouts end, sweeps and the sender run again."""
    shift = timedelta()
    for _ in range(rounds):
        shift += timedelta(seconds=150)
        with time_machine.travel(datetime.now(UTC) + shift, tick=True):
            run_due_sweep()
            drain(client, aws)
        if all(m["status"] in TERMINAL for m in user_messages(api)):
            return


@pytest.mark.parametrize("crash_at", range(1, 7))
def test_a_crash_after_any_aws_call_loses_nothing_and_sends_nothing_twice(
    api, wx, client, aws, crash_after, crash_at
):
    api.put_template()
    api.grant()
    crash_after["at"] = crash_at
    key = {"Idempotency-Key": "order-42-shipped"}
    try:
        api.send(headers=key)
    except Crash:
        api.send(headers=key)  # the client retries a request that got no answer
    with contextlib.suppress(Crash):
        drain(client, aws)
    assert crash_after["at"] is None, "the pipeline made fewer AWS calls than the crash point"
    recover(api, client, aws)

    found = user_messages(api)
    assert len(found) == 1
    assert found[0]["status"] in {"sent", "unknown"}
    assert len(wx.sent) <= 1
    if found[0]["status"] == "sent":
        assert len(wx.sent) == 1


@pytest.mark.parametrize("crash_at", range(1, 9))
def test_a_crash_after_any_aws_call_of_the_due_sweep_sends_each_reminder_once(
    api, wx, client, aws, crash_after, crash_at, monkeypatch
):
    """The scheduled run's fan-out, the tick, each worker's Query, SendMessageBatch and batched
    marks: the process dies after any of them, later sweeps and the sender finish the work."""
    monkeypatch.setenv("SUBMSG_DUE_SHARDS", "2")
    monkeypatch.setenv("SUBMSG_SWEEP_PAGE", "4")
    bootstrap.reset()  # settings are read once per container
    api.put_template()
    send_at = datetime.now(UTC) + timedelta(minutes=5)
    for _ in range(10):
        api.grant()
        assert api.send(send_at=send_at.isoformat()).status_code == 201
    with time_machine.travel(send_at - timedelta(seconds=30), tick=True):
        crash_after["at"] = crash_at
        with contextlib.suppress(Crash):
            run_due_sweep()
    assert crash_after["at"] is None, "the sweep made fewer AWS calls than the crash point"
    recover(api, client, aws)

    found = user_messages(api)
    assert [m["status"] for m in found] == ["sent"] * 10
    sent_to = sorted(json.loads(json.dumps(c))["page"][-32:] for c in wx.sent)
    assert sent_to == sorted(m["id"] for m in found)


def test_every_sqs_message_delivered_three_times_sends_each_card_once(api, wx, client, aws):
    api.put_template()
    for _ in range(3):
        api.grant()
    ids = [api.send().json_body["id"] for _ in range(3)]
    sqs = boto3.client("sqs")
    received = sqs.receive_message(
        QueueUrl=aws.send_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert len(received) == 3
    for copy in range(3):
        duplicates = [{**m, "MessageId": f"{m['MessageId']}-copy{copy}"} for m in received]
        answer = app_module.send_worker(sqs_event(duplicates, "arn:aws:sqs:us-east-1:1:q"), None)
        assert answer == {"batchItemFailures": []}
    assert len(wx.sent) == 3
    assert sorted(json.loads(json.dumps(c))["page"][-36:] for c in wx.sent) == sorted(
        f"submsg_id={i}"[-36:] for i in ids
    )
    statuses = {api.call("GET", f"/v1/messages/{i}").json_body["status"] for i in ids}
    assert statuses == {"sent"}


@pytest.fixture
def serializable_transactions(monkeypatch):
    """DynamoDB runs each transaction atomically; moto does not lock, so the test restores that."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def atomic(self, transact_items):
        with lock:
            return original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", atomic)


@pytest.mark.parametrize("held", [0, 1, 3, 5])
def test_sixteen_concurrent_sends_spend_exactly_the_credits_held(
    api, services, serializable_transactions, held
):
    api.put_template()
    for _ in range(held):
        api.grant()
    app = load_app(services, APP_ID)
    body = NewMessage(
        openid=OPENID,
        template_id=TEMPLATE,
        data={"thing1": "Blue mug", "character_string2": "SO-1"},
    )

    def attempt(_: int) -> str:
        try:
            message_create.create(services, app, body, None)
            return "accepted"
        except NoGrant:
            return "no_grant"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(attempt, range(16)))
    assert outcomes.count("accepted") == held
    assert outcomes.count("no_grant") == 16 - held
    assert len(user_messages(api)) == held


# Campaigns ---------------------------------------------------------------------------------

PROMO = "TplPromotion000000000000000000000000000001"
CAMPAIGN_HOLDERS = [f"oCrashUser{n:03d}" for n in range(6)]


def campaign_state(api, campaign_id: str) -> dict:
    return api.call("GET", f"/v1/campaigns/{campaign_id}").json_body


@pytest.mark.parametrize("crash_at", range(1, 60, 4))
def test_a_crash_after_any_aws_call_of_a_campaign_gives_each_holder_one_card(
    api, wx, client, aws, crash_after, crash_at, monkeypatch
):
    monkeypatch.setenv("SUBMSG_CAMPAIGN_PAGE", "2")  # chains of several steps
    monkeypatch.setenv("SUBMSG_CAMPAIGN_SHARDS", "2")
    from chalicelib import bootstrap

    bootstrap.reset()
    api.put_template(PROMO, title="Promotion", category="reminder")
    for openid in CAMPAIGN_HOLDERS:
        api.grant(openid, PROMO)
    body = {
        "name": "Crash",
        "template_id": PROMO,
        "audience": {"holders": {}},
        "data": {"thing1": "Sale", "character_string2": "S-1"},
    }
    crash_after["at"] = crash_at
    try:
        created = api.call("POST", "/v1/campaigns", body, {"Idempotency-Key": "crash-campaign"})
    except Crash:
        created = api.call("POST", "/v1/campaigns", body, {"Idempotency-Key": "crash-campaign"})
    campaign_id = created.json_body["id"]
    if created.json_body["status"] == "draft":  # the crash came before it started
        api.call("POST", f"/v1/campaigns/{campaign_id}/start")
    shift = timedelta()
    for _ in range(12):
        with contextlib.suppress(Crash):
            drain(client, aws, rounds=20)
        with contextlib.suppress(Crash):
            run_due_sweep()
        found = campaign_state(api, campaign_id)
        if found["completed_at"] is not None:
            break
        shift += timedelta(seconds=200)  # leases and visibility timeouts end
        with time_machine.travel(datetime.now(UTC) + shift, tick=True):
            with contextlib.suppress(Crash):
                run_due_sweep()
            with contextlib.suppress(Crash):
                drain(client, aws, rounds=20)
    assert crash_after["at"] is None, "the campaign made fewer AWS calls than the crash point"

    found = campaign_state(api, campaign_id)
    assert found["completed_at"] is not None, found
    assert found["audience_size"] == len(CAMPAIGN_HOLDERS)
    cards = [card["touser"] for card in wx.sent]
    assert len(cards) == len(set(cards))  # nobody got two
    finished = found["sent"] + found["failed"] + sum(found["skipped"].values())
    assert finished + found["canceled"] == len(CAMPAIGN_HOLDERS)
    assert found["sent"] == len(cards)
    assert found["sent"] + found["unknown"] == len(CAMPAIGN_HOLDERS)  # only a lost claim is lost
