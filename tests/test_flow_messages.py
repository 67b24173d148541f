"""Message lifecycle through the HTTP API: idempotency, scheduling, cancel, move, list, track."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import OPENID, TEMPLATE, app_day, drain


def credits(api) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == TEMPLATE)


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture
def granted(api):
    api.put_template()
    api.grant()
    return api


def test_replaying_an_idempotency_key_returns_the_first_message_and_spends_once(granted):
    key = {"Idempotency-Key": "order-7-shipped"}
    first = granted.send(headers=key)
    again = granted.send(headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json_body["id"] == first.json_body["id"]
    assert credits(granted) == 0
    listed = granted.call("GET", f"/v1/users/{OPENID}/messages").json_body["items"]
    assert len(listed) == 1


def test_an_idempotency_key_reused_with_another_body_is_refused(granted):
    key = {"Idempotency-Key": "order-8"}
    granted.send(headers=key)
    other = granted.send(headers=key, urgent=True)
    assert other.status_code == 422
    assert other.json_body["error"]["code"] == "idempotency_key_mismatch"


def test_a_scheduled_message_reserves_a_credit_and_cancel_refunds_it_once(granted):
    created = granted.send(send_at=later(hours=2))
    assert created.status_code == 201
    assert created.json_body["status"] == "scheduled"
    assert credits(granted) == 0
    message_id = created.json_body["id"]
    for _ in range(2):
        canceled = granted.call("DELETE", f"/v1/messages/{message_id}")
        assert canceled.status_code == 200
        assert canceled.json_body["status"] == "canceled"
    assert credits(granted) == 1


def test_a_sent_message_cannot_be_canceled_or_moved(granted, wx, client, aws):
    message_id = granted.send().json_body["id"]
    drain(client, aws)
    for method, body in (("DELETE", None), ("PATCH", {"send_at": later(hours=1)})):
        answer = granted.call(method, f"/v1/messages/{message_id}", body)
        assert answer.status_code == 409
        assert answer.json_body["error"]["code"] == "not_cancelable"


def test_moving_a_scheduled_message_changes_its_send_time(granted):
    message_id = granted.send(send_at=later(hours=2)).json_body["id"]
    moved = granted.call("PATCH", f"/v1/messages/{message_id}", {"send_at": later(hours=3)})
    assert moved.status_code == 200
    assert moved.json_body["status"] == "scheduled"
    found = granted.call("GET", f"/v1/messages/{message_id}").json_body
    assert datetime.fromisoformat(found["send_at"]) > datetime.now(UTC) + timedelta(hours=2.9)


def test_a_send_time_past_every_grant_expiry_is_refused(api):
    api.put_template(grant_ttl_days=1)
    api.grant()
    answer = api.send(send_at=later(days=2))
    assert answer.status_code == 409
    assert answer.json_body["error"]["code"] == "grant_expires_before_send_at"
    message_id = api.send(send_at=later(hours=2)).json_body["id"]
    moved = api.call("PATCH", f"/v1/messages/{message_id}", {"send_at": later(days=2)})
    assert moved.json_body["error"]["code"] == "grant_expires_before_send_at"


@pytest.mark.parametrize(
    ("send_at", "problem"),
    [
        ("2026-11-22T09:30:00", "timezone"),
        ("next tuesday", "datetime"),
        ("2099-01-01T00:00:00+08:00", "days"),
    ],
)
def test_a_bad_send_time_is_a_validation_error_naming_the_field(granted, send_at, problem):
    answer = granted.send(send_at=send_at)
    assert answer.status_code == 400
    fields = answer.json_body["error"]["fields"]
    assert fields[0]["field"] == "send_at"
    assert problem in fields[0]["problem"]


def test_a_send_time_in_the_past_means_now(granted):
    answer = granted.send(send_at=later(minutes=-5))
    assert answer.status_code == 201
    assert answer.json_body["status"] == "queued"


def test_a_users_messages_are_listed_newest_first_page_by_page(api):
    api.put_template()
    for _ in range(5):
        api.grant()
    ids = [api.send().json_body["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        path = f"/v1/users/{OPENID}/messages?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", path).json_body
        assert len(page["items"]) <= 2
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    queued = api.call("GET", f"/v1/users/{OPENID}/messages?status=sent").json_body
    assert queued["items"] == []
    bad = api.call("GET", f"/v1/users/{OPENID}/messages?cursor=not-a-cursor")
    assert bad.status_code == 400


def test_clicks_and_conversions_count_once_and_feed_the_rates(granted, wx, client, aws):
    message_id = granted.send().json_body["id"]
    drain(client, aws)
    path = f"/v1/messages/{message_id}/events"
    first = granted.call("POST", path, {"type": "click"})
    second = granted.call("POST", path, {"type": "click"})
    assert (first.status_code, second.status_code) == (202, 202)
    assert (first.json_body["counted"], second.json_body["counted"]) == (True, False)
    granted.call("POST", path, {"type": "conversion", "value": 99.5})
    found = granted.call("GET", f"/v1/messages/{message_id}").json_body
    assert found["clicked_at"] and found["converted_at"]
    today = app_day(found["created_at"])
    stats = granted.call("GET", f"/v1/stats?from={today}&to={today}").json_body
    totals = stats["totals"]
    assert (totals["requested"], totals["sent"], totals["clicked"], totals["converted"]) == (
        1,
        1,
        1,
        1,
    )
    assert totals["grants_received"] == 1
    assert (totals["delivery_rate"], totals["click_rate"], totals["conversion_rate"]) == (
        1.0,
        1.0,
        1.0,
    )
    assert stats["days"][0]["date"] == today


@pytest.mark.parametrize("wechat_answer", [None, {"errcode": 40003, "errmsg": "invalid openid"}])
def test_a_click_or_conversion_on_a_card_never_sent_is_not_counted(
    granted, wx, client, aws, wechat_answer
):
    message_id = granted.send(send_at=later(hours=2)).json_body["id"]
    if wechat_answer is not None:  # sent now, and refused by WeChat
        granted.call("PATCH", f"/v1/messages/{message_id}", {"send_at": later(hours=-1)})
        wx.then(wechat_answer)
        drain(client, aws)
    path = f"/v1/messages/{message_id}/events"

    answers = [granted.call("POST", path, {"type": kind}) for kind in ("click", "conversion")]

    assert [(a.status_code, a.json_body["counted"]) for a in answers] == [(202, False)] * 2
    found = granted.call("GET", f"/v1/messages/{message_id}").json_body
    assert found["status"] in ("scheduled", "failed")
    assert (found["clicked_at"], found["converted_at"]) == (None, None)
    today = app_day(found["created_at"])
    totals = granted.call("GET", f"/v1/stats?from={today}&to={today}").json_body["totals"]
    assert (totals["clicked"], totals["converted"]) == (0, 0)


def test_stats_can_be_narrowed_to_one_template(granted, wx, client, aws):
    granted.send()
    today = app_day(datetime.now(UTC))
    mine = granted.call("GET", f"/v1/stats?from={today}&to={today}&template_id={TEMPLATE}")
    assert mine.json_body["totals"]["requested"] == 1
    other = granted.call("GET", f"/v1/stats?from={today}&to={today}&template_id=Nope").json_body
    assert other["totals"]["requested"] == 0
    bad = granted.call("GET", f"/v1/stats?from={today}&to=2020-01-01")
    assert bad.status_code == 400


def test_an_opted_out_user_gets_409_and_keeps_the_credit(granted):
    prefs = granted.call(
        "PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_categories": ["transactional"]}
    )
    assert prefs.status_code == 200
    assert prefs.json_body["opt_out_categories"] == ["transactional"]
    answer = granted.send()
    assert answer.status_code == 409
    assert answer.json_body["error"]["code"] == "opted_out"
    assert credits(granted) == 1


def test_an_unknown_timezone_is_refused(granted):
    answer = granted.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Mars/Olympus"})
    assert answer.status_code == 400
    assert answer.json_body["error"]["fields"][0]["field"] == "timezone"


def test_erasing_a_user_removes_grants_preferences_and_messages(granted):
    granted.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Europe/Paris"})
    message_id = granted.send(send_at=later(hours=1)).json_body["id"]
    assert granted.call("DELETE", f"/v1/users/{OPENID}").status_code == 204
    assert credits(granted) == 0
    assert granted.call("GET", f"/v1/messages/{message_id}").status_code == 404
    prefs = granted.call("GET", f"/v1/users/{OPENID}/preferences").json_body
    assert prefs["timezone"] is None


def test_an_idempotency_key_is_erased_with_its_users_messages(granted):
    key = {"Idempotency-Key": "order-9-shipped"}
    first = granted.send(headers=key, send_at=later(hours=1)).json_body["id"]
    assert granted.call("DELETE", f"/v1/users/{OPENID}").status_code == 204
    granted.grant()
    again = granted.send(headers=key, send_at=later(hours=1))
    assert again.status_code == 201
    assert again.json_body["id"] != first
    assert credits(granted) == 0


@pytest.mark.parametrize("message_key", ["k1", "campaign:k1"])
def test_a_campaigns_idempotency_key_and_a_messages_are_independent(granted, message_key):
    granted.grant()
    campaign = {
        "name": "Order follow-up",
        "template_id": TEMPLATE,
        "audience": {"openids": [OPENID]},
        "data": {"thing1": "Blue mug", "character_string2": "SO-2026-0001"},
        "start": False,
    }
    first = granted.call("POST", "/v1/campaigns", campaign, {"Idempotency-Key": "k1"})
    sent = granted.send(headers={"Idempotency-Key": message_key})
    again = granted.call("POST", "/v1/campaigns", campaign, {"Idempotency-Key": "k1"})
    resent = granted.send(headers={"Idempotency-Key": message_key})

    assert (first.status_code, sent.status_code) == (201, 201), sent.json_body
    assert (again.status_code, again.json_body["id"]) == (200, first.json_body["id"])
    assert (resent.status_code, resent.json_body["id"]) == (200, sent.json_body["id"])


def test_subscriptions_advise_when_to_prompt_again(api):
    api.put_template(target_credits=2)
    item = lambda: api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"][0]  # noqa: E731
    assert (item()["should_prompt"], item()["reason"]) == (True, "below_target")
    api.grant()
    api.grant()
    assert (item()["should_prompt"], item()["reason"]) == (False, "enough_credits")
    assert item()["next_expiry"] is not None
    api.grant(result="reject")
    assert (item()["should_prompt"], item()["reason"]) == (False, "recently_refused")
