"""WeChat's push callback through the HTTP route: verification, safe mode, events, dedupe."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib.adapters import callback_codec
from chalicelib.services import admin
from tests.support.clocks import app_day
from tests.support.events import drain
from tests.support.tenants import APP_ID, OPENID, TEMPLATE
from tests.support.webhooks import create_endpoint

TOKEN = "made-up-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, made up
LONG_TERM = "TplLongTermNotice000000000000000000000000001"
ARRIVED = "TplOrderArrived00000000000000000000000000001"
PATH = f"/v1/wechat/{APP_ID}/callback"


@pytest.fixture
def configured(services, tenant, api):
    """The app takes plain-mode pushes: a callback token, no EncodingAESKey."""
    admin.set_callback_secrets(services.app_secrets, APP_ID, TOKEN, None)
    api.put_template()
    api.put_template(LONG_TERM, kind="long_term", category="reminder")
    api.put_template(ARRIVED)
    return services


@pytest.fixture
def safe_mode(configured):
    admin.set_callback_secrets(configured.app_secrets, APP_ID, None, AES_KEY)
    return configured


def signed(nonce: str = "n0nce", timestamp: int | None = None) -> dict[str, str]:
    stamp = str(timestamp or int(time.time()))
    return {
        "timestamp": stamp,
        "nonce": nonce,
        "signature": callback_codec.url_signature(TOKEN, stamp, nonce),
    }


def query(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


def push(client, body: str, params: dict[str, str], content_type: str = "text/xml"):
    return client.http.post(
        f"{PATH}?{query(params)}", body=body.encode(), headers={"Content-Type": content_type}
    )


def popup_xml(status: str, template_id: str = TEMPLATE, created: int = 1700000000) -> str:
    return (
        f"<xml><ToUserName>gh_000000000001</ToUserName><FromUserName>{OPENID}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType>event</MsgType>"
        "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List>"
        f"<TemplateId>{template_id}</TemplateId><SubscribeStatusString>{status}"
        "</SubscribeStatusString><PopupScene>0</PopupScene></List></SubscribeMsgPopupEvent></xml>"
    )


def popup_json(*taps: tuple[str, str], created: int = 1700000000) -> str:
    """A popup event as WeChat pushes it in JSON: ``List`` at the top, an object for one tap."""
    items = [{"TemplateId": t, "SubscribeStatusString": s, "PopupScene": "0"} for t, s in taps]
    return json.dumps(
        {
            "ToUserName": "gh_000000000001",
            "FromUserName": OPENID,
            "CreateTime": str(created),
            "MsgType": "event",
            "Event": "subscribe_msg_popup_event",
            "List": items[0] if len(items) == 1 else items,
        }
    )


def sealed(body: str, fmt: str, appid: str = APP_ID) -> tuple[str, dict[str, str]]:
    """``body`` in a safe-mode envelope, and the query that signs it."""
    stamp, nonce = str(int(time.time())), "n0nce2"
    encrypted = callback_codec.encrypt(body.encode(), AES_KEY, appid)
    params = {
        "timestamp": stamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": callback_codec.msg_signature(TOKEN, stamp, nonce, encrypted),
        "signature": callback_codec.url_signature(TOKEN, stamp, nonce),
    }
    if fmt == "json":
        return json.dumps({"ToUserName": "gh_1", "Encrypt": encrypted}), params
    return f"<xml><ToUserName>gh_1</ToUserName><Encrypt>{encrypted}</Encrypt></xml>", params


def change_event_json(*rejected: str) -> str:
    """A subscribe_msg_change_event, in JSON, switching ``rejected`` templates off."""
    return json.dumps(
        {
            "ToUserName": "gh_000000000001",
            "FromUserName": OPENID,
            "CreateTime": "1700000100",
            "MsgType": "event",
            "Event": "subscribe_msg_change_event",
            "SubscribeMsgChangeEvent": {
                "List": [{"TemplateId": t, "SubscribeStatusString": "reject"} for t in rejected]
            },
        }
    )


def subscriptions(api) -> dict[str, dict]:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return {i["template_id"]: i for i in items}


def test_url_verification_echoes_echostr_only_with_the_right_signature(client, configured):
    good = client.http.get(f"{PATH}?{query({**signed(), 'echostr': 'hello-42'})}")
    assert good.status_code == 200
    assert good.body == b"hello-42"
    bad = client.http.get(f"{PATH}?{query({**signed(), 'signature': 'f' * 40, 'echostr': 'x'})}")
    assert bad.status_code == 401
    assert bad.json_body["error"]["code"] == "unauthorized"


def test_a_stale_timestamp_is_refused(client, configured):
    answer = push(client, popup_xml("accept"), signed(timestamp=int(time.time()) - 301))
    assert answer.status_code == 401


def test_a_wrong_signature_is_refused_before_the_body_is_parsed(client, configured):
    answer = push(client, "<<<not xml", {**signed(), "signature": "0" * 40})
    assert answer.status_code == 401  # not 400: nothing was parsed


def test_popup_accepts_count_once_when_the_app_takes_grants_from_the_callback(
    client, configured, api
):
    admin.update_app(configured.core, APP_ID, {"grant_source": "callback"})
    for _ in range(3):  # WeChat retries the same push
        answer = push(client, popup_xml("accept"), signed())
        assert answer.status_code == 200
        assert answer.body == b"success"
    assert subscriptions(api)[TEMPLATE]["credits"] == 1
    push(client, popup_xml("accept", created=1700000001), signed())
    assert subscriptions(api)[TEMPLATE]["credits"] == 2


def test_popup_accepts_are_not_counted_twice_when_grants_come_from_the_api(client, configured, api):
    api.grant()
    push(client, popup_xml("accept"), signed())
    assert subscriptions(api)[TEMPLATE]["credits"] == 1
    push(client, popup_xml("reject", created=1700000005), signed())
    assert subscriptions(api)[TEMPLATE]["last_result"] == "reject"


def test_switching_a_template_off_rejects_the_long_term_grant_and_drops_credits(
    client, configured, api
):
    api.grant()
    api.grant(template_id=LONG_TERM)
    assert subscriptions(api)[LONG_TERM]["long_term"] == "active"
    body = change_event_json(LONG_TERM, TEMPLATE)
    admin.update_app(configured.core, APP_ID, {"callback_format": "json"})
    assert push(client, body, signed(), "application/json").status_code == 200
    found = subscriptions(api)
    assert found[LONG_TERM]["long_term"] == "rejected"
    assert found[TEMPLATE]["credits"] == 0


def test_an_asynchronous_delivery_failure_turns_a_sent_message_into_failed(
    client, configured, api, wx, backend
):
    api.grant()
    sent = api.send().json_body
    drain(client, backend)
    msgid = api.call("GET", f"/v1/messages/{sent['id']}").json_body["result"]["msgid"]
    body = (
        f"<xml><ToUserName>gh_1</ToUserName><FromUserName>{OPENID}</FromUserName>"
        "<CreateTime>1700000200</CreateTime><MsgType>event</MsgType>"
        "<Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List>"
        f"<TemplateId>{TEMPLATE}</TemplateId><MsgID>{msgid}</MsgID><ErrorCode>10005</ErrorCode>"
        "<ErrorStatus>fail_user_block</ErrorStatus></List></SubscribeMsgSentEvent></xml>"
    )
    assert push(client, body, signed()).status_code == 200
    found = api.call("GET", f"/v1/messages/{sent['id']}").json_body
    assert found["status"] == "failed"
    assert found["result"]["errcode"] == 10005
    today = app_day(found["created_at"])
    totals = api.call("GET", f"/v1/stats?from={today}&to={today}").json_body["totals"]
    assert (totals["sent"], totals["failed"]) == (0, 1)


def test_safe_mode_events_are_decrypted_and_checked_against_the_appid(client, safe_mode, api):
    admin.update_app(safe_mode.core, APP_ID, {"grant_source": "callback"})

    wrong_app = push(client, *sealed(popup_xml("accept"), "xml", "wx9999999999999999"))
    assert wrong_app.status_code == 401
    assert subscriptions(api)[TEMPLATE]["credits"] == 0
    assert push(client, *sealed(popup_xml("accept"), "xml")).status_code == 200
    assert subscriptions(api)[TEMPLATE]["credits"] == 1


def test_an_app_with_an_encoding_aes_key_refuses_plain_pushes_before_parsing(
    client, safe_mode, api
):
    admin.update_app(safe_mode.core, APP_ID, {"grant_source": "callback"})

    forged = push(client, popup_xml("accept"), signed())
    unparsable = push(client, "<<<not xml", signed())

    assert (forged.status_code, unparsable.status_code) == (401, 401)
    assert forged.json_body["error"]["code"] == "unauthorized"
    assert subscriptions(api)[TEMPLATE]["credits"] == 0


ALLOWS = ["accept", "acceptWithAudio", "acceptWithAlert", "acceptWithForcePush"]
SHAPES = {
    "xml-plain": lambda allow: (popup_xml(allow), "xml", False),
    "xml-safe": lambda allow: (popup_xml(allow), "xml", True),
    "json-plain-object": lambda allow: (popup_json((TEMPLATE, allow)), "json", False),
    "json-safe-array": lambda allow: (
        popup_json((TEMPLATE, allow), (ARRIVED, "reject")),
        "json",
        True,
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("allow", ALLOWS)
def test_every_kind_of_allow_pushed_is_one_credit_remembered_as_it_came(
    client, configured, api, allow, shape
):
    body, fmt, safe = SHAPES[shape](allow)
    changes = {"grant_source": "callback", "callback_format": fmt}
    admin.update_app(configured.core, APP_ID, changes)
    if safe:
        admin.set_callback_secrets(configured.app_secrets, APP_ID, None, AES_KEY)
    content_type = "application/json" if fmt == "json" else "text/xml"

    answer = push(client, *(sealed(body, fmt) if safe else (body, signed())), content_type)

    assert (answer.status_code, answer.body) == (200, b"success")
    found = subscriptions(api)[TEMPLATE]
    assert (found["credits"], found["last_result"]) == (1, allow)
    today = app_day(found["last_result_at"])
    totals = api.call("GET", f"/v1/stats?from={today}&to={today}").json_body["totals"]
    assert totals["grants_received"] == 1


@pytest.mark.parametrize("allow", ALLOWS)
def test_every_kind_of_allow_pushed_makes_a_long_term_grant_active(client, configured, api, allow):
    admin.update_app(configured.core, APP_ID, {"grant_source": "callback"})

    assert push(client, popup_xml(allow, LONG_TERM), signed()).status_code == 200

    found = subscriptions(api)[LONG_TERM]
    assert (found["long_term"], found["last_result"]) == ("active", allow)


def test_a_push_with_an_answer_wechat_does_not_document_is_refused_whole(client, configured, api):
    admin.update_app(
        configured.core, APP_ID, {"grant_source": "callback", "callback_format": "json"}
    )
    body = popup_json((TEMPLATE, "accept"), (ARRIVED, "acceptWithHologram"))

    answer = push(client, body, signed(), "application/json")

    assert answer.status_code == 400
    error = answer.json_body["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == [f"results.{ARRIVED}"]
    assert subscriptions(api)[TEMPLATE]["credits"] == 0


def test_a_push_racing_the_api_report_does_not_erase_the_long_term_grant(
    configured, api, monkeypatch
):
    """The push read the user's state before the API's report activated the grant."""
    from chalicelib.adapters.store.users import Users, UserState
    from chalicelib.domain.records import GrantResult, GrantSource
    from chalicelib.services import grants
    from chalicelib.services.auth import load_app

    stale = Users.load
    api.grant(template_id=LONG_TERM)
    monkeypatch.setattr(Users, "load", lambda self, app_id, openid: UserState())
    app = load_app(configured.core, APP_ID)
    grants.record_results(
        configured.core, app, OPENID, {LONG_TERM: GrantResult.ACCEPT}, GrantSource.CALLBACK
    )
    monkeypatch.setattr(Users, "load", stale)
    assert subscriptions(api)[LONG_TERM]["long_term"] == "active"


def table_items(aws) -> list[dict]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=aws.table_name)
    return [item for page in pages for item in page["Items"]]


def test_after_an_erasure_no_item_of_the_table_holds_the_openid(
    client, configured, api, wx, aws, pinned_clock
):
    admin.update_app(
        configured.core, APP_ID, {"grant_source": "callback", "callback_format": "json"}
    )
    api.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Asia/Tokyo"})
    create_endpoint(api)  # every event about the user is a webhook delivery too
    pushes = [
        popup_json((TEMPLATE, "acceptWithAudio")),
        popup_json((TEMPLATE, "accept"), created=1),
    ]
    for body in pushes:
        assert push(client, body, signed(), "application/json").status_code == 200
    sent = api.send(headers={"Idempotency-Key": "erase-me"}).json_body["id"]
    drain(client, aws)
    msgid = api.call("GET", f"/v1/messages/{sent}").json_body["result"]["msgid"]
    undelivered = {"TemplateId": TEMPLATE, "MsgID": msgid, "ErrorCode": 10005, "ErrorStatus": "x"}
    fields = {"FromUserName": OPENID, "CreateTime": 2, "Event": "subscribe_msg_sent_event"}
    for body in (json.dumps({**fields, "List": undelivered}), change_event_json(ARRIVED)):
        assert push(client, body, signed(), "application/json").status_code == 200
    assert api.call("POST", f"/v1/messages/{sent}/events", {"type": "click"}).status_code == 202
    assert api.call("GET", f"/v1/messages/{sent}").json_body["status"] == "failed"
    assert sum(OPENID in json.dumps(item) for item in table_items(aws)) >= 5
    about = [i for i in table_items(aws) if OPENID in json.dumps(i)]
    assert sum(i["pk"]["S"].startswith("WHD#") for i in about) >= 3  # sent, failed, off
    pinned_clock.shift(10)  # no first attempt can go unread anymore: the erasure need not wait

    assert api.call("DELETE", f"/v1/users/{OPENID}").status_code == 204

    left = [item for item in table_items(aws) if OPENID in json.dumps(item)]
    assert left == []
