"""WeChat's push callback through the HTTP route: verification, safe mode, events, dedupe."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.adapters import callback_codec
from chalicelib.services import admin
from tests.support.clocks import app_day
from tests.support.events import drain
from tests.support.tenants import APP_ID, OPENID, TEMPLATE

TOKEN = "made-up-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, made up
LONG_TERM = "TplLongTermNotice000000000000000000000000001"
PATH = f"/v1/wechat/{APP_ID}/callback"


@pytest.fixture
def configured(services, tenant, api):
    admin.set_callback_secrets(services, APP_ID, TOKEN, AES_KEY)
    api.put_template()
    api.put_template(LONG_TERM, kind="long_term", category="reminder")
    return services


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
    admin.update_app(configured, APP_ID, {"grant_source": "callback"})
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
    admin.update_app(configured, APP_ID, {"callback_format": "json"})
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


def test_safe_mode_events_are_decrypted_and_checked_against_the_appid(client, configured, api):
    admin.update_app(configured, APP_ID, {"grant_source": "callback"})
    stamp, nonce = str(int(time.time())), "n0nce2"

    def envelope(appid: str) -> tuple[str, dict[str, str]]:
        encrypted = callback_codec.encrypt(popup_xml("accept").encode(), AES_KEY, appid)
        params = {
            "timestamp": stamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": callback_codec.msg_signature(TOKEN, stamp, nonce, encrypted),
            "signature": callback_codec.url_signature(TOKEN, stamp, nonce),
        }
        return f"<xml><ToUserName>gh_1</ToUserName><Encrypt>{encrypted}</Encrypt></xml>", params

    wrong_app = push(client, *envelope("wx9999999999999999"))
    assert wrong_app.status_code == 401
    assert subscriptions(api)[TEMPLATE]["credits"] == 0
    assert push(client, *envelope(APP_ID)).status_code == 200
    assert subscriptions(api)[TEMPLATE]["credits"] == 1


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
    app = load_app(configured, APP_ID)
    grants.record_results(
        configured, app, OPENID, {LONG_TERM: GrantResult.ACCEPT}, GrantSource.CALLBACK
    )
    monkeypatch.setattr(Users, "load", stale)
    assert subscriptions(api)[LONG_TERM]["long_term"] == "active"
