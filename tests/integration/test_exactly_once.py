"""Crashes after any AWS call, duplicates and races never lose nor double a card
(docs/exactly-once.md#when-things-go-wrong), on a calm embedded AWS and on one under load: each
proof runs twice, the second time with the fault mix of docs/resilience.md (conflicts, throttles,
lost transaction answers, SQS sends that land twice) injected at its rates, seeded per test."""

from __future__ import annotations

import contextlib
import json
import zlib
from collections import Counter
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
from local.aws import conflicts
from local.aws.faults import Injector
from local.poller import poll_once, sqs_event
from tests.flows.test_flow_campaigns import adds_up, create, grant_all, promo_template, users
from tests.support.clocks import app_day
from tests.support.events import drain, run_due_sweep
from tests.support.faults import FAULT_MIX, SQS_DUPLICATES, aws_under_load
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


@pytest.fixture(params=["calm", "fault-mix"])
def load(request: pytest.FixtureRequest) -> str:
    """What the embedded AWS injects during the proof: nothing, or the fault mix."""
    return "" if request.param == "calm" else f"{FAULT_MIX},{SQS_DUPLICATES}"


def seed_of(request: pytest.FixtureRequest) -> int:
    """Each test draws its own faults, the same on every run."""
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def under_load(load: str, request: pytest.FixtureRequest) -> Iterator[Injector]:
    with aws_under_load(load, seed_of(request)) as injector:
        yield injector


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


def user_messages(api, openid: str = OPENID) -> list[dict]:
    return api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]


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
    under_load, api, wx, client, aws, crash_after, crash_at
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
    under_load, api, wx, client, aws, crash_after, crash_at, monkeypatch
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


def test_every_sqs_message_delivered_three_times_sends_each_card_once(
    under_load, api, wx, client, aws
):
    api.put_template()
    for _ in range(3):
        api.grant()
    ids = [api.send().json_body["id"] for _ in range(3)]
    sqs = boto3.client("sqs")
    received = sqs.receive_message(
        QueueUrl=aws.send_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    # under load, a send whose answer was lost landed twice: more copies still
    assert len(received) == 3 + under_load.injected["sqs_lost"]
    assert {json.loads(m["Body"])["id"] for m in received} == set(ids)
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
def overlapping(load: str, request: pytest.FixtureRequest) -> Iterator[Injector]:
    """Transactions hold their items for 5 ms while they apply, as a busy DynamoDB does, so that
    requests made at once from threads really meet each other's holds; with the load's faults."""
    assert conflicts.overlap  # tests/conftest.py
    conflicts.met.clear()
    with aws_under_load(f"{load},hold_ms=5", seed_of(request)) as injector:
        yield injector


def outcome_of(call) -> str:
    try:
        call()
    except NoGrant:
        return "no_grant"
    except Exception as error:  # what a route would answer 5xx for
        return type(error).__name__
    return "accepted"


@pytest.mark.parametrize("held", [0, 1, 3, 5])
def test_sixteen_concurrent_sends_spend_exactly_the_credits_held(
    overlapping, api, wx, client, aws, services, held
):
    api.put_template()
    for _ in range(held):
        api.grant()
    app = load_app(services.core, APP_ID)
    body = NewMessage(
        openid=OPENID,
        template_id=TEMPLATE,
        data={"thing1": "Blue mug", "character_string2": "SO-1"},
        page="pages/order/detail?id=1",
    )

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(
            pool.map(
                lambda _: outcome_of(lambda: message_create.create(services.core, app, body, None)),
                range(16),
            )
        )
    assert Counter(outcomes) == +Counter({"accepted": held, "no_grant": 16 - held})
    if held > 1:
        assert sum(conflicts.met.values()) > 0, "no two transactions overlapped"
    drain(client, aws)
    found = user_messages(api)
    assert [m["status"] for m in found] == ["sent"] * held
    assert sorted(c["page"][-36:] for c in wx.sent) == sorted(
        f"submsg_id={m['id']}"[-36:] for m in found
    )
    assert credits_of(api, OPENID, TEMPLATE) == 0


def test_sixty_cards_sent_at_once_by_senders_running_at_once_each_arrive_once(
    overlapping, api, wx, client, aws, services
):
    """60 users' cards created from 16 threads, then sent by 4 invocations at once, each batch by
    two of them: every card sent once, and the app's counters that every card writes add up."""
    app = services.core.store.catalog.get_app(APP_ID)
    services.core.store.catalog.put_app(app.model_copy(update={"requests_per_second": 10_000}))
    bootstrap.reset()
    api.put_template()
    openids = [f"oBurstUser{n:017d}" for n in range(60)]
    for openid in openids:
        assert api.grant(openid).status_code == 201
    app = load_app(bootstrap.services().core, APP_ID)

    def send(openid: str) -> str:
        body = NewMessage(
            openid=openid,
            template_id=TEMPLATE,
            data={"thing1": "Blue mug", "character_string2": "SO-1"},
            page="pages/order/detail?id=1",
        )
        return outcome_of(lambda: message_create.create(bootstrap.services().core, app, body, None))

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(send, openids))
    assert outcomes == ["accepted"] * 60
    run_steps_at_once(aws)

    assert sorted(card["touser"] for card in wx.sent) == openids
    for openid in openids:
        assert [m["status"] for m in user_messages(api, openid)] == ["sent"]
    today = app_day(datetime.now(UTC))
    totals = api.call("GET", f"/v1/stats?from={today}&to={today}").json_body["totals"]
    assert (totals["requested"], totals["sent"], totals["failed"]) == (60, 60, 0)
    assert sum(conflicts.met.values()) > 0, "no two transactions overlapped"


def credits_of(api, openid: str, template: str) -> int:
    items = api.call("GET", f"/v1/users/{openid}/subscriptions").json_body["items"]
    return next((i["credits"] for i in items if i["template_id"] == template), 0)


# Campaigns ---------------------------------------------------------------------------------

PROMO = "TplPromotion000000000000000000000000000001"
CAMPAIGN_HOLDERS = [f"oCrashUser{n:03d}" for n in range(6)]


def campaign_state(api, campaign_id: str) -> dict:
    return api.call("GET", f"/v1/campaigns/{campaign_id}").json_body


# Under load, every other crash point of the calm run (the faults move the calls about anyway).
CAMPAIGN_CRASHES = [("calm", at) for at in range(1, 60, 4)] + [
    ("fault-mix", at) for at in range(1, 60, 8)
]


@pytest.mark.parametrize(("load", "crash_at"), CAMPAIGN_CRASHES, indirect=["load"])
def test_a_crash_after_any_aws_call_of_a_campaign_gives_each_holder_one_card(
    under_load, api, wx, client, aws, crash_after, crash_at, monkeypatch
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


def run_steps_at_once(aws, workers: int = 4) -> int:
    """Lambda's event source with ``workers`` invocations running at once, every batch handed to
    two of them at the same moment (SQS delivering each message twice); until the queue is idle.
    What the handlers answered besides batch failures (an exception: a Lambda error) is raised."""
    sqs = aws.sqs()

    def invoke_twice(event: dict) -> dict:
        with ThreadPoolExecutor(2) as copies:
            answers = list(copies.map(lambda _: app_module.send_worker(event, None), range(2)))
        failed = [f for answer in answers for f in answer["batchItemFailures"]]
        return {"batchItemFailures": failed}

    def worker(_: int) -> int:
        handled = 0
        while count := poll_once(sqs, aws.send_queue_url, invoke_twice):
            handled += count
        return handled

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(worker, range(workers)))


def test_a_campaign_whose_steps_run_at_once_and_twice_gives_each_holder_one_card(
    overlapping, api, wx, client, aws, services, monkeypatch, pinned_clock
):
    """Its chains' steps and cards handled by concurrent invocations, each record by two at once,
    on a DynamoDB whose transactions hold their items: one card each, books that add up."""
    monkeypatch.setenv("SUBMSG_CAMPAIGN_SHARDS", "4")
    promo_template(api, services, monkeypatch)  # pages of 10: several steps a chain
    holders = users(40)
    grant_all(api, holders)
    created = create(api).json_body

    for _ in range(20):
        run_steps_at_once(aws)
        run_due_sweep()
        found = campaign_state(api, created["id"])
        if found["completed_at"] is not None:
            break
        pinned_clock.shift(200)  # leases and visibility timeouts end
    assert found["completed_at"] is not None, found
    assert (found["audience_size"], found["sent"], found["pending"]) == (40, 40, 0)
    adds_up(found)
    assert Counter(card["touser"] for card in wx.sent) == Counter(dict.fromkeys(holders, 1))
    assert all(credits_of(api, openid, PROMO) == 0 for openid in holders)
    assert sum(conflicts.met.values()) > 0, "no two transactions overlapped"
