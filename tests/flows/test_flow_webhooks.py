"""Outbound webhooks through the routes, the sender and the deliverer's SQS handler, with a
receiver (``responses``) that verifies every request with the Standard Webhooks library."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.events import drain, drain_webhooks, lose_webhook_messages, run_webhook_sweep
from tests.support.tenants import OPENID, OTHER_APP_ID, Api, make_tenant
from tests.support.tiers import MEMORY_ONLY
from tests.support.webhooks import RECEIVER, Receiver, create_endpoint, deliveries


@pytest.fixture
def receiver(wx) -> Receiver:
    return Receiver(wx.mock)


@pytest.fixture
def card(api):
    api.put_template()
    api.grant()


def test_an_endpoint_shows_its_secret_only_when_created(api):
    created = create_endpoint(api, events=["message.sent"], description="orders")
    assert created["id"].startswith("whk_")
    assert created["secret"].startswith("whsec_")
    assert created["status"] == "enabled"
    assert created["events"] == ["message.sent"]
    shown = api.call("GET", f"/v1/webhooks/{created['id']}").json_body
    listed = api.call("GET", "/v1/webhooks").json_body["items"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert [item["id"] for item in listed] == [created["id"]]


def test_a_sent_card_is_reported_once_signed_and_as_the_api_answers_it(
    api, client, backend, card, receiver
):
    endpoint = create_endpoint(api)
    sent = api.send().json_body
    drain(client, backend)
    drain_webhooks(backend)
    assert len(receiver.requests) == 1
    payload = receiver.verified(endpoint["secret"])
    assert payload["type"] == "message.sent"
    assert payload["data"] == api.call("GET", f"/v1/messages/{sent['id']}").json_body
    request = receiver.requests[0]
    assert request.headers["webhook-timestamp"].isdigit()
    assert request.headers["content-type"] == "application/json"
    [logged] = deliveries(api, endpoint["id"])
    assert logged["id"] == request.headers["webhook-id"]
    assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
        "delivered",
        1,
        204,
    )
    drain_webhooks(backend)
    run_webhook_sweep()
    drain_webhooks(backend)
    assert len(receiver.requests) == 1


def test_a_failing_receiver_gets_the_third_attempt_and_a_manual_retry_a_fourth(
    api, client, backend, card, receiver, pinned_clock
):
    endpoint = create_endpoint(api, events=["message.sent"])
    receiver.answers = [500, 503]
    api.send()
    drain(client, backend)
    drain_webhooks(backend)
    [pending] = deliveries(api, endpoint["id"])
    assert (pending["status"], pending["attempts"], pending["last_status_code"]) == (
        "pending",
        1,
        500,
    )
    pinned_clock.shift(7)  # 5 s ±10 %, in whole seconds of SQS delay
    drain_webhooks(backend)
    assert len(receiver.requests) == 2
    pinned_clock.shift(20)  # the next comes 30 s ±10 % later: not yet
    drain_webhooks(backend)
    assert len(receiver.requests) == 2
    pinned_clock.shift(15)
    drain_webhooks(backend)
    assert len(receiver.requests) == 3
    assert len(set(receiver.ids())) == 1
    receiver.verified(endpoint["secret"])
    [logged] = deliveries(api, endpoint["id"])
    assert (logged["status"], logged["attempts"]) == ("delivered", 3)
    retried = api.call("POST", f"/v1/webhooks/{endpoint['id']}/deliveries/{logged['id']}/retry")
    assert retried.status_code == 202, retried.json_body
    drain_webhooks(backend)
    assert receiver.ids() == [logged["id"]] * 4
    [again] = deliveries(api, endpoint["id"], status="delivered")
    assert (again["status"], again["attempts"]) == ("delivered", 4)


def test_after_a_rotation_both_secrets_verify(api, backend, receiver):
    endpoint = create_endpoint(api)
    rotated = api.call("POST", f"/v1/webhooks/{endpoint['id']}/rotate")
    assert rotated.status_code == 200
    secret = rotated.json_body["secret"]
    assert secret.startswith("whsec_") and secret != endpoint["secret"]
    tested = api.call("POST", f"/v1/webhooks/{endpoint['id']}/test")
    assert tested.status_code == 202
    drain_webhooks(backend)
    for key in (endpoint["secret"], secret):
        payload = receiver.verified(key)
        assert payload == {
            "type": "webhook.test",
            "timestamp": payload["timestamp"],
            "data": {"endpoint_id": endpoint["id"]},
        }
    assert len(receiver.requests[0].headers["webhook-signature"].split(" ")) == 2
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(
            receiver.requests[0].body, dict(receiver.requests[0].headers)
        )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://receiver.example/hooks",
        "http://receiver.example/hooks",
        "receiver.example/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.9/hooks",
        "https://192.168.1.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://[::1]/hooks",
        "https://224.0.0.1/hooks",
        "https://0.0.0.0/hooks",
        "https://[::ffff:169.254.169.254]/hooks",
        "https://user:pw@receiver.example/hooks",
    ],
)
def test_urls_a_delivery_may_not_reach_are_refused_naming_url(api, url):
    answer = api.call("POST", "/v1/webhooks", {"url": url})
    assert answer.status_code == 400, answer.json_body
    assert answer.json_body["error"]["code"] == "validation_error"
    assert [f["field"] for f in answer.json_body["error"]["fields"]] == ["url"]


def test_a_patch_to_a_refused_url_is_refused_naming_url(api):
    endpoint = create_endpoint(api)
    answer = api.call("PATCH", f"/v1/webhooks/{endpoint['id']}", {"url": "https://10.0.0.1/"})
    assert answer.status_code == 400
    assert answer.json_body["error"]["fields"][0]["field"] == "url"


@pytest.mark.parametrize(
    "events", [["message.teleported"], [], ["message.sent", "message.sent"], "message.sent"]
)
def test_unknown_event_types_are_refused_naming_events(api, events):
    answer = api.call("POST", "/v1/webhooks", {"url": RECEIVER, "events": events})
    assert answer.status_code == 400, answer.json_body
    assert all(f["field"].startswith("events") for f in answer.json_body["error"]["fields"])


def test_an_app_has_at_most_ten_endpoints(api):
    for n in range(10):
        create_endpoint(api, description=f"endpoint {n}")
    answer = api.call("POST", "/v1/webhooks", {"url": RECEIVER})
    assert answer.status_code == 400
    assert answer.json_body["error"]["fields"][0]["field"] == "url"


def test_another_app_sees_none_of_it(api, client, backend, services, card, receiver):
    endpoint = create_endpoint(api)
    api.send()
    drain(client, backend)
    drain_webhooks(backend)
    [logged] = deliveries(api, endpoint["id"])
    other = Api(client, make_tenant(services, OTHER_APP_ID))
    base = f"/v1/webhooks/{endpoint['id']}"
    assert other.call("GET", "/v1/webhooks").json_body == {"items": []}
    for method, path in [
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/rotate"),
        ("POST", f"{base}/test"),
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/deliveries/{logged['id']}/retry"),
    ]:
        body = {"description": "mine"} if method == "PATCH" else None
        answer = other.call(method, path, body)
        assert answer.status_code == 404, (method, path, answer.json_body)
    assert len(receiver.requests) == 1


def test_a_card_without_an_endpoint_writes_and_enqueues_no_event(
    api, client, backend, services, card, pinned_clock
):
    api.send()
    drain(client, backend)
    assert lose_webhook_messages(backend) == 0
    later = datetime.now(UTC) + timedelta(days=30)
    for shard in range(services.core.settings.due_shards):
        assert services.core.store.webhooks.due(shard, later, 10)[0] == []


def test_an_endpoint_hears_only_the_types_it_listens_for(api, client, backend, card, receiver):
    create_endpoint(api, events=["message.canceled"])
    kept = api.send(send_at="2026-11-23T08:00:00Z").json_body
    api.send()
    drain(client, backend)
    assert api.call("DELETE", f"/v1/messages/{kept['id']}").status_code == 200
    drain_webhooks(backend)
    [request] = receiver.requests
    body = json.loads(request.body)
    assert (body["type"], body["data"]["id"], body["data"]["status"]) == (
        "message.canceled",
        kept["id"],
        "canceled",
    )


def test_410_gone_disables_the_endpoint_with_its_reason(api, backend, receiver):
    endpoint = create_endpoint(api)
    receiver.answers = [410]
    api.call("POST", f"/v1/webhooks/{endpoint['id']}/test")
    drain_webhooks(backend)
    shown = api.call("GET", f"/v1/webhooks/{endpoint['id']}").json_body
    assert shown["status"] == "disabled"
    assert "410" in shown["disabled_reason"]
    [logged] = deliveries(api, endpoint["id"])
    assert (logged["status"], logged["last_status_code"]) == ("failed", 410)
    enabled = api.call("PATCH", f"/v1/webhooks/{endpoint['id']}", {"status": "enabled"})
    assert (enabled.json_body["status"], enabled.json_body["disabled_reason"]) == ("enabled", None)


def test_a_lost_hand_over_is_delivered_by_the_sweep(api, backend, receiver, pinned_clock):
    endpoint = create_endpoint(api)
    api.call("POST", f"/v1/webhooks/{endpoint['id']}/test")
    assert lose_webhook_messages(backend) == 1  # the enqueue after the commit never happened
    run_webhook_sweep()
    drain_webhooks(backend)
    assert receiver.requests == []  # still under its lease
    pinned_clock.shift(61)
    assert run_webhook_sweep()["enqueued"] == 1
    drain_webhooks(backend)
    assert len(receiver.requests) == 1
    assert deliveries(api, endpoint["id"])[0]["status"] == "delivered"


def test_a_deleted_endpoint_is_gone(api):
    endpoint = create_endpoint(api)
    assert api.call("DELETE", f"/v1/webhooks/{endpoint['id']}").status_code == 204
    assert api.call("GET", f"/v1/webhooks/{endpoint['id']}").status_code == 404
    assert api.call("DELETE", f"/v1/webhooks/{endpoint['id']}").status_code == 404


def test_the_first_click_and_conversion_are_reported_once_each(
    api, client, backend, card, receiver
):
    endpoint = create_endpoint(api, events=["message.clicked", "message.converted"])
    sent = api.send().json_body
    drain(client, backend)
    for kind in ("click", "click", "conversion"):
        path = f"/v1/messages/{sent['id']}/events"
        assert api.call("POST", path, {"type": kind}).status_code == 202
    drain_webhooks(backend)
    bodies = [receiver.verified(endpoint["secret"], n) for n in range(len(receiver.requests))]
    assert sorted(b["type"] for b in bodies) == ["message.clicked", "message.converted"]
    clicked = next(b for b in bodies if b["type"] == "message.clicked")
    assert clicked["data"]["id"] == sent["id"] and clicked["data"]["clicked_at"]


def test_a_user_switching_a_template_off_is_reported(api, client, backend, services, receiver):
    from chalicelib.adapters import callback_codec
    from chalicelib.services import admin
    from tests.support.tenants import APP_ID, OPENID, TEMPLATE

    token = "callbacktoken0001"
    admin.set_callback_secrets(services.app_secrets, APP_ID, token, None)
    admin.update_app(services.core, APP_ID, {"callback_format": "json"})
    api.put_template()
    endpoint = create_endpoint(api, events=["grant.switched_off"])
    event = {
        "ToUserName": "gh_000000000001",
        "FromUserName": OPENID,
        "CreateTime": "1700000100",
        "MsgType": "event",
        "Event": "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent": {
            "List": [{"TemplateId": TEMPLATE, "SubscribeStatusString": "reject"}]
        },
    }
    stamp = str(int(datetime.now(UTC).timestamp()))
    signature = callback_codec.url_signature(token, stamp, "n0nce")
    pushed = client.http.post(
        f"/v1/wechat/{APP_ID}/callback?timestamp={stamp}&nonce=n0nce&signature={signature}",
        body=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert pushed.status_code == 200
    drain_webhooks(backend)
    [request] = receiver.requests
    payload = receiver.verified(endpoint["secret"])
    assert payload["type"] == "grant.switched_off"
    assert payload["data"]["openid"] == OPENID and payload["data"]["template_id"] == TEMPLATE
    assert request.headers["webhook-id"].startswith("evt_")


def campaign_events(receiver, secret, *types):
    found = [receiver.verified(secret, n) for n in range(len(receiver.requests))]
    return [event for event in found if event["type"] in types]


def test_a_campaign_reports_its_completion_with_its_counts(
    api, wx, client, backend, services, monkeypatch, pinned_clock
):
    from tests.flows.test_flow_campaigns import create, grant_all, promo_template, until_done, users

    receiver = Receiver(wx.mock)
    promo_template(api, services, monkeypatch)
    endpoint = create_endpoint(api, events=["campaign.completed", "campaign.canceled"])
    grant_all(api, users(12))
    created = create(api).json_body
    found = until_done(client, backend, api, created["id"], pinned_clock)
    drain_webhooks(backend)
    [completed] = campaign_events(receiver, endpoint["secret"], "campaign.completed")
    assert completed["data"] == found  # the campaign as GET /v1/campaigns/{id} answers it
    assert (completed["data"]["status"], completed["data"]["sent"]) == ("completed", 12)
    run_webhook_sweep()
    drain_webhooks(backend)
    assert len(receiver.requests) == 1


def test_a_canceled_campaign_is_reported_when_its_books_close(
    api, wx, client, backend, services, monkeypatch, pinned_clock
):
    from tests.flows.test_flow_campaigns import create, grant_all, promo_template, until_done, users

    receiver = Receiver(wx.mock)
    promo_template(api, services, monkeypatch)
    endpoint = create_endpoint(api, events=["campaign.canceled"])
    grant_all(api, users(20))
    campaign_id = create(api).json_body["id"]
    drain(client, backend, rounds=1)
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/cancel").status_code == 200
    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=60)
    drain_webhooks(backend)
    [canceled] = campaign_events(receiver, endpoint["secret"], "campaign.canceled")
    assert canceled["data"]["status"] == "canceled"
    assert canceled["data"]["canceled"] == found["canceled"] and canceled["data"]["completed_at"]


@MEMORY_ONLY("the experiment's statistics; the outbox is rerun with the completion reports")
def test_an_experiments_decision_is_reported(
    api, wx, client, backend, services, monkeypatch, pinned_clock
):
    from tests.flows.test_flow_campaigns import create, grant_all, promo_template, until_done, users

    receiver = Receiver(wx.mock)
    promo_template(api, services, monkeypatch)
    endpoint = create_endpoint(api, events=["experiment.decided"])
    grant_all(api, users(40))
    experiment = {
        "test_percent": 50,
        "metric": "click_rate",
        "decide_after_minutes": 1,
        "fallback": "first",
    }
    variants = [{"name": "plain", "weight": 50}, {"name": "other", "weight": 50}]
    campaign_id = create(api, variants=variants, experiment=experiment).json_body["id"]
    until_done(client, backend, api, campaign_id, pinned_clock, step_s=30)
    drain_webhooks(backend)
    [decided] = campaign_events(receiver, endpoint["secret"], "experiment.decided")
    assert decided["data"]["id"] == campaign_id
    assert decided["data"]["experiment"]["phase"] == "decided"
    assert decided["data"]["experiment"]["winner"] == "plain"  # no clicks: the fallback


def test_a_retry_names_a_delivery_of_that_endpoint_or_is_not_found(api, backend, receiver):
    first, second = create_endpoint(api), create_endpoint(api)
    tested = api.call("POST", f"/v1/webhooks/{first['id']}/test").json_body
    drain_webhooks(backend)
    other = f"/v1/webhooks/{second['id']}/deliveries/{tested['id']}/retry"
    assert api.call("POST", other).status_code == 404
    unknown = f"/v1/webhooks/{first['id']}/deliveries/evt_{'0' * 28}/retry"
    assert api.call("POST", unknown).status_code == 404
    not_an_id = f"/v1/webhooks/{first['id']}/deliveries/msg_1/retry"
    assert api.call("POST", not_an_id).status_code == 404
    assert len(receiver.requests) == 1


ERASED = "oErased00000000000000000001"
KEPT = "oKept000000000000000000001"


def bodies_about(receiver, openid: str) -> list[bytes]:
    return [r.body for r in receiver.requests if openid.encode() in r.body]


def test_erasing_a_user_erases_their_deliveries_and_what_was_pending_never_goes(
    api, client, backend, card, receiver, pinned_clock
):
    endpoint = create_endpoint(api, events=["message.sent"])
    for openid in (ERASED, ERASED, KEPT):
        api.grant(openid)
    api.send(openid=ERASED)
    api.send(openid=KEPT)
    drain(client, backend)
    drain_webhooks(backend)  # both delivered
    receiver.answers = [500]
    api.send(openid=ERASED)
    drain(client, backend)
    drain_webhooks(backend)  # its first attempt fails: a retry waits 5 s on the queue
    before = deliveries(api, endpoint["id"])
    assert sorted(d["status"] for d in before) == ["delivered", "delivered", "pending"]
    assert len(bodies_about(receiver, ERASED)) == 2
    pinned_clock.shift(15)  # past a fresh first attempt: every copy is checked from now on

    assert api.call("DELETE", f"/v1/users/{ERASED}").status_code == 204

    drain_webhooks(backend)  # the retry's copy comes due: it finds its delivery gone
    pinned_clock.shift(3 * 86400)
    run_webhook_sweep()
    drain_webhooks(backend)
    assert len(bodies_about(receiver, ERASED)) == 2  # nothing more about the user
    left = deliveries(api, endpoint["id"])
    assert [d["id"] for d in left] == [
        r.headers["webhook-id"] for r in receiver.requests if KEPT.encode() in r.body
    ]
    assert left[0]["status"] == "delivered"


def test_an_erasure_right_after_an_event_waits_until_its_copy_can_no_longer_go_unread(
    api, client, backend, card, receiver, monkeypatch
):
    from chalicelib import bootstrap

    monkeypatch.setenv("SUBMSG_WEBHOOK_FRESH_S", "1")
    bootstrap.reset()
    create_endpoint(api, events=["message.sent"])
    api.send()
    drain(client, backend)  # message.sent written and its first copy enqueued, not yet handled
    assert api.call("DELETE", f"/v1/users/{OPENID}").status_code == 204
    drain_webhooks(backend)
    assert bodies_about(receiver, OPENID) == []
