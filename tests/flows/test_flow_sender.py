"""Every WeChat answer class of docs/rules.md#wechats-error-codes through the real SQS handler:
state and credits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http.client import RemoteDisconnected

import pytest
import requests
import time_machine
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from chalicelib import bootstrap
from tests.support.events import drain
from tests.support.tenants import OPENID, TEMPLATE


def credits(api) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == TEMPLATE)


def message(api, message_id: str) -> dict:
    return api.call("GET", f"/v1/messages/{message_id}").json_body


# How requests reports a refused connection, and a connection WeChat closed after the request.
REFUSED = requests.ConnectionError(
    MaxRetryError(None, "/cgi-bin/message/subscribe/send", NewConnectionError(None, "refused"))
)
LOST_AFTER_WRITING = requests.ConnectionError(
    ProtocolError("Connection aborted.", RemoteDisconnected("closed without response"))
)


@pytest.fixture
def one_credit(api):
    api.put_template()
    api.grant()


def send_one(api, client, backend) -> dict:
    created = api.send()
    assert created.status_code == 201, created.json_body
    drain(client, backend, rounds=1)
    return message(api, created.json_body["id"])


@pytest.mark.parametrize(
    ("answer", "status", "credits_left"),
    [
        ({"errcode": 0, "errmsg": "ok"}, "sent", 0),
        ({"errcode": 47003, "errmsg": "argument invalid! data.thing1.value"}, "failed", 1),
        ({"errcode": 40003, "errmsg": "invalid openid"}, "failed", 1),
        ({"errcode": 40037, "errmsg": "invalid template id"}, "failed", 1),
        ({"errcode": 41030, "errmsg": "invalid page"}, "failed", 1),
        ({"errcode": 43107, "errmsg": "template banned"}, "failed", 1),
        ({"errcode": 45168, "errmsg": "sensitive words"}, "failed", 1),
        ({"errcode": 43101, "errmsg": "user refuse to accept the msg"}, "failed", 0),
        (requests.ReadTimeout("read timed out"), "unknown", 0),
        (LOST_AFTER_WRITING, "unknown", 0),
    ],
)
def test_each_final_wechat_answer_ends_in_its_state_with_credits_balanced(
    api, wx, client, backend, one_credit, answer, status, credits_left
):
    wx.then(answer)
    found = send_one(api, client, backend)
    assert found["status"] == status
    assert credits(api) == credits_left
    if isinstance(answer, dict):
        assert found["result"]["errcode"] == answer["errcode"]


def test_a_permanent_content_error_keeps_the_field_named_by_wechat(
    api, wx, client, backend, one_credit
):
    wx.then({"errcode": 47003, "errmsg": "argument invalid! data.thing1.value"})
    found = send_one(api, client, backend)
    assert "data.thing1" in found["result"]["errmsg"]


def test_no_subscription_drops_the_remaining_credits_of_that_template(api, wx, client, backend):
    api.put_template()
    for _ in range(3):
        api.grant()
    assert credits(api) == 3
    wx.then({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
    found = send_one(api, client, backend)
    assert found["status"] == "failed"
    assert credits(api) == 0


def test_an_expired_token_is_fetched_again_and_the_send_retried_at_once(
    api, wx, client, backend, one_credit
):
    wx.then({"errcode": 40001, "errmsg": "invalid credential"}, {"errcode": 0, "errmsg": "ok"})
    found = send_one(api, client, backend)
    assert found["status"] == "sent"
    assert wx.token_calls == 2
    assert found["attempts"] == 1


@pytest.mark.parametrize(
    "busy",
    [
        {"errcode": -1, "errmsg": "system busy"},
        {"errcode": 45011, "errmsg": "api minute-quota reach limit"},
        {"errcode": 43108, "errmsg": "concurrent sends to one user"},
        502,
        REFUSED,
    ],
)
def test_a_busy_answer_is_retried_with_backoff_then_sent(
    api, wx, client, backend, one_credit, busy
):
    wx.then(busy)
    found = send_one(api, client, backend)
    assert found["status"] == "queued"
    assert drain(client, backend, rounds=1) == 0  # invisible during the backoff
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=15), tick=True):
        drain(client, backend, rounds=1)
        found = message(api, found["id"])
    assert found["status"] == "sent"
    assert found["attempts"] == 2
    assert len(wx.sent) == 1


def test_retries_end_failed_and_refunded_after_the_last_attempt(
    api, wx, client, backend, one_credit, monkeypatch
):
    monkeypatch.setenv("SUBMSG_MAX_ATTEMPTS", "3")
    bootstrap.reset()  # settings are read once per container
    wx.then(*[{"errcode": -1, "errmsg": "system busy"}] * 3)
    found = send_one(api, client, backend)
    shift = timedelta()
    for _ in range(3):
        shift += timedelta(seconds=200)
        with time_machine.travel(datetime.now(UTC) + shift, tick=True):
            drain(client, backend, rounds=1)
    found = message(api, found["id"])
    assert found["status"] == "failed"
    assert found["attempts"] == 3
    assert credits(api) == 1


def test_the_daily_quota_defers_to_five_past_midnight_in_shanghai(
    api, wx, client, backend, one_credit
):
    wx.then({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
    found = send_one(api, client, backend)
    assert found["status"] == "scheduled"
    send_at = datetime.fromisoformat(found["send_at"])
    assert send_at.astimezone(UTC).strftime("%H:%M") == "16:05"  # 00:05 in UTC+8
    assert send_at > datetime.now(UTC)
    assert credits(api) == 0  # still reserved for the deferred send


def test_the_card_opens_a_page_carrying_the_message_id(api, wx, client, backend, one_credit):
    found = send_one(api, client, backend)
    assert wx.sent[0]["page"].endswith(f"&submsg_id={found['id']}")
    assert wx.sent[0]["miniprogram_state"] == "formal"
    assert wx.sent[0]["lang"] == "zh_CN"


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ({"errcode": 0, "errmsg": "ok"}, "card sent"),
        ({"errcode": 47003, "errmsg": "argument invalid!"}, "card failed: WeChat refused it"),
        (
            {"errcode": 43101, "errmsg": "user refuse"},
            "card failed: the user holds no subscription",
        ),
        (requests.ReadTimeout("read timed out"), "card outcome unknown: not resent"),
    ],
)
def test_the_sender_logs_one_line_of_its_own_for_each_outcome(
    api, wx, client, backend, one_credit, caplog, answer, line
):
    wx.then(answer)
    with caplog.at_level("INFO", logger="submsg"):
        found = send_one(api, client, backend)
    lines = [
        r.getMessage()
        for r in caplog.records
        if getattr(r, "message_id", None) == found["id"] and r.getMessage().startswith("card")
    ]
    assert len(lines) == 1
    assert lines[0].startswith(line)
