"""The WeChat sandbox pushes subscription events to a callback URL, signed as WeChat signs them.

Two tiers: a small recording server on 127.0.0.1 that checks what arrives with submsg's own
codec, then the running local stack, where submsg's callback route takes the pushes for real.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from chalicelib import bootstrap
from chalicelib.adapters import callback_codec
from chalicelib.adapters.callback_codec import CallbackEvent
from chalicelib.domain.records import Category, TemplateKind
from chalicelib.services import admin, templates
from chalicelib.services.commands import PutTemplate
from local.config import LocalSettings
from local.demo import ORDER_SHIPPED
from local.sandbox import Sandbox, SandboxTemplate
from local.stack import Endpoints, LocalStack
from tests.support.clocks import pinned_for_the_module, wait_for

APPID = "wx0000000000000001"
SECRET = "sandbox-secret-0000000000000001"
TOKEN = "made-up-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, made up
OPENID = "o-push-user-0001"
SHIPPED = SandboxTemplate("tmpl-shipped", "Order shipped", "Item:{{thing1.DATA}}", "one_time")
ARRIVED = SandboxTemplate("tmpl-arrived", "Order arrived", "Item:{{thing1.DATA}}", "one_time")
REFUNDED = SandboxTemplate("tmpl-refunded", "Refunded", "Item:{{thing1.DATA}}", "one_time")
FAST_RETRY_S = 0.05
WAIT_S = 15.0

pinned_clock = pinned_for_the_module()


@dataclass(frozen=True)
class Received:
    query: dict[str, str]
    body: bytes
    content_type: str


@dataclass
class Callback:
    """A callback URL that records each push and answers from a script (then 'success')."""

    url: str
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)
    delay_s: float = 0.0

    def event(self, index: int = -1, fmt: str = "xml") -> CallbackEvent:
        """The push as submsg's codec reads it, signature checked."""
        query, body, now = self.received[index].query, self.received[index].body, datetime.now(UTC)
        callback_codec.verify_url(
            TOKEN, query["timestamp"], query["nonce"], query["signature"], now
        )
        if query.get("encrypt_type") != "aes":
            return callback_codec.parse_event(body, fmt)
        signed = {name: query[name] for name in ("timestamp", "nonce", "msg_signature")}
        keys = {"token": TOKEN, "encoding_aes_key": AES_KEY, "appid": APPID}
        return callback_codec.open_envelope(body, fmt, **keys, **signed, now=now)


@pytest.fixture
def callback() -> Iterator[Callback]:
    recorder = Callback("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            recorder.received.append(Received(query, body, self.headers["Content-Type"]))
            time.sleep(recorder.delay_s)
            status, text = recorder.answers.pop(0) if recorder.answers else (200, "success")
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/v1/wechat/{APPID}/callback"
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Pushing:
    sandbox: Sandbox
    url: str

    def tap(self, results: dict[str, str], openid: str = OPENID) -> requests.Response:
        body = {"appid": APPID, "openid": openid, "results": results}
        return requests.post(f"{self.url}/sandbox/subscribe", json=body, timeout=5)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return requests.post(f"{self.url}{path}", json=body, timeout=5).json()

    def settled(self) -> list[dict[str, Any]]:
        assert self.sandbox.wait_for_pushes(WAIT_S)
        return requests.get(f"{self.url}/sandbox/pushes", timeout=5).json()


def start_sandbox(callback: Callback, retry_s: float = FAST_RETRY_S, **settings: Any) -> Pushing:
    sandbox = Sandbox(push_retry_delay_s=retry_s)
    sandbox.add_app(APPID, SECRET, callback_url=callback.url, token=TOKEN, **settings)
    for template in (SHIPPED, ARRIVED, REFUNDED):
        sandbox.add_template(APPID, template)
    return Pushing(sandbox, sandbox.start())


@pytest.fixture
def pushing(callback: Callback, request: pytest.FixtureRequest) -> Iterator[Pushing]:
    """A sandbox pushing to ``callback``; ``indirect`` parameters are its settings."""
    running = start_sandbox(callback, **getattr(request, "param", {}))
    yield running
    running.sandbox.stop()


def test_a_tap_pushes_a_signed_popup_event_with_only_allows_and_rejects(pushing, callback):
    results = {SHIPPED.template_id: "acceptWithAlert", ARRIVED.template_id: "reject"}
    pushing.tap({SHIPPED.template_id: "ban", ARRIVED.template_id: "filter"})  # pushes nothing
    pushing.tap({**results, REFUNDED.template_id: "ban"})

    [record] = pushing.settled()
    event = callback.event()
    assert (event.event, event.openid) == ("subscribe_msg_popup_event", OPENID)
    assert {item.template_id: item.status for item in event.items} == results
    assert {item.popup_scene for item in event.items} == {"0"}
    assert callback.received[0].content_type.startswith("text/xml")
    assert (record["state"], record["create_time"]) == ("delivered", event.create_time)
    assert [(a["status"], a["answer"]) for a in record["attempts"]] == [(200, "success")]


def test_the_tap_answers_before_a_slow_callback_does(pushing, callback):
    callback.delay_s = 1.0
    started = time.monotonic()

    answer = pushing.tap({SHIPPED.template_id: "accept"})

    assert time.monotonic() - started < 0.5
    assert answer.json()[SHIPPED.template_id] == "accept"
    assert pushing.settled()[0]["state"] == "delivered"


@pytest.mark.parametrize(
    ("answers", "state"),
    [([(500, "busy"), (200, "not now")], "delivered"), ([(500, "busy")] * 10, "failed")],
)
def test_an_answer_but_success_is_retried_three_times_with_the_same_event(
    pushing, callback, answers, state
):
    callback.answers = list(answers)

    pushing.tap({SHIPPED.template_id: "accept"})

    [record] = pushing.settled()
    tries = 3 if state == "delivered" else 4
    expected = [*answers, (200, "success")][:tries]
    assert [(a["status"], a["answer"]) for a in record["attempts"]] == expected
    assert record["state"] == state
    assert len({callback.event(i).create_time for i in range(tries)}) == 1
    assert TOKEN not in json.dumps(record)


def test_stopping_the_sandbox_gives_up_a_push_waiting_to_retry(callback):
    callback.answers = [(500, "busy")] * 10
    running = start_sandbox(callback, retry_s=60)
    running.tap({SHIPPED.template_id: "accept"})
    wait_for(lambda: callback.received, WAIT_S)

    started = time.monotonic()
    running.sandbox.stop()

    assert time.monotonic() - started < 2
    assert running.sandbox.pushes()[0]["state"] == "failed"
    assert len(callback.received) == 1


# fmt: off
CANNOT_PUSH = [
    ("/sandbox/fail_delivery", {"appid": APPID, "msgid": 1, "error_code": 10005}, 47001),
    ("/sandbox/fail_delivery", {"appid": APPID, "msgid": 1, "error_code": 0}, 47001),
    ("/sandbox/fail_delivery", {"appid": "wx00000000000000ff", "msgid": 1, "error_code": 1}, 40013),
] + [("/sandbox/repeat_push", {"push_id": push_id}, 47001) for push_id in (99, True, "1", None)]
# fmt: on


@pytest.mark.parametrize(("path", "body", "errcode"), CANNOT_PUSH)
def test_fail_delivery_and_repeat_push_refuse_what_they_cannot_push(pushing, path, body, errcode):
    pushing.tap({SHIPPED.template_id: "accept"})
    pushing.settled()

    assert pushing.post(path, body)["errcode"] == errcode
    assert len(pushing.settled()) == 1


# fmt: off
BEYOND_LOOPBACK = [
    "http://localhost:8000/v1/wechat/x/callback", "http://10.0.0.1/callback",
    "http://127.0.0.1@example.invalid/callback", "http://127.0.0.2/callback",
    "ftp://127.0.0.1/callback",
]
# fmt: on


@pytest.mark.parametrize("url", BEYOND_LOOPBACK)
def test_refuses_a_callback_url_beyond_127_0_0_1(url):
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        Sandbox().add_app(APPID, SECRET, callback_url=url, token=TOKEN)


def test_refuses_a_callback_url_without_a_token_and_a_malformed_aes_key():
    with pytest.raises(ValueError, match="token"):
        Sandbox().add_app(APPID, SECRET, callback_url="http://127.0.0.1:9/cb")
    with pytest.raises(ValueError, match="EncodingAESKey"):
        Sandbox().add_app(
            APPID, SECRET, callback_url="http://127.0.0.1:9/cb", token=TOKEN, encoding_aes_key="x"
        )


# Through the running local stack -------------------------------------------------------------

LONG_TERM = SandboxTemplate(
    "TplAccountAlert000000000000000000000000001", "Account alert", "Alert:{{thing1.DATA}}",
    "long_term",
)  # fmt: skip
SAFE_APP_ID = "wx0000000000000002"
SHIPPED_ID = ORDER_SHIPPED.template_id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Stack:
    endpoints: Endpoints
    sandbox: Sandbox

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key or self.endpoints.api_key}"}
        url = f"{self.endpoints.api}{path}"
        return requests.request(method, url, json=body, headers=headers, timeout=10)

    def sandbox_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return requests.post(f"{self.endpoints.sandbox}{path}", json=body, timeout=5).json()

    def tap(self, openid: str, results: dict[str, str], appid: str | None = None) -> None:
        body = {"appid": appid or self.endpoints.app_id, "openid": openid, "results": results}
        assert "errCode" not in self.sandbox_post("/sandbox/subscribe", body)

    def tap_and_report(self, openid: str, results: dict[str, str]) -> None:
        """Reported once the popup push is in: a push and a report racing may lose an update."""
        self.tap(openid, results)
        self.settled_push("subscribe_msg_popup_event", openid)
        assert self.call("POST", "/v1/grants", {"openid": openid, "results": results}).ok

    def subscription(self, openid: str, template_id: str, key: str | None = None) -> Any:
        items = self.call("GET", f"/v1/users/{openid}/subscriptions", key=key).json()["items"]
        return next(item for item in items if item["template_id"] == template_id)

    def settled_push(self, event: str, openid: str) -> dict[str, Any]:
        """The newest push of that event to that user, once answered (or given up)."""
        return wait_for(lambda: self._settled(event, openid), WAIT_S)

    def _settled(self, event: str, openid: str) -> dict[str, Any] | None:
        pushes = requests.get(f"{self.endpoints.sandbox}/sandbox/pushes", timeout=5).json()
        mine = [p for p in pushes if p["event"] == event and p["openid"] == openid]
        return mine[-1] if mine and mine[-1]["state"] != "pending" else None


def answers(push: dict[str, Any]) -> list[tuple[int, str]]:
    return [(a["status"], a["answer"]) for a in push["attempts"]]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    settings = LocalSettings(
        port=free_port(), aws_port=free_port(), sandbox_port=0, wechat_api_base=None
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SUBMSG_CACHE_TTL_S", "0")  # the API sees app changes made by a test at once
        running = LocalStack(settings)
        with running as endpoints:
            assert running.sandbox is not None
            yield Stack(endpoints, running.sandbox)


@pytest.fixture
def grants_from_callback(stack: Stack) -> Iterator[None]:
    services = bootstrap.services()
    admin.update_app(services.core, stack.endpoints.app_id, {"grant_source": "callback"})
    yield
    admin.update_app(services.core, stack.endpoints.app_id, {"grant_source": "api"})


def test_stack_with_grants_from_the_callback_a_tap_counts_once_however_often_pushed(
    stack, grants_from_callback
):
    openid = "oUserPush00000000000000000003"
    stack.tap(openid, {SHIPPED_ID: "accept"})
    first = stack.settled_push("subscribe_msg_popup_event", openid)
    assert answers(first) == [(200, "success")]
    assert stack.subscription(openid, SHIPPED_ID)["credits"] == 1  # the tap alone gave it

    stack.sandbox_post("/sandbox/repeat_push", {"push_id": first["push_id"]})

    again = stack.settled_push("subscribe_msg_popup_event", openid)
    assert (again["repeat_of"], again["create_time"]) == (first["push_id"], first["create_time"])
    assert answers(again) == [(200, "success")]
    assert stack.subscription(openid, SHIPPED_ID)["credits"] == 1
    stack.tap(openid, {SHIPPED_ID: "accept"})  # a new tap in the same second is a new event
    stack.settled_push("subscribe_msg_popup_event", openid)
    assert stack.subscription(openid, SHIPPED_ID)["credits"] == 2


def test_stack_a_failed_delivery_push_turns_a_sent_message_into_failed(stack):
    openid = "oUserPush00000000000000000004"
    stack.tap_and_report(openid, {SHIPPED_ID: "accept"})
    body = {"openid": openid, "template_id": SHIPPED_ID, "data": ORDER_SHIPPED.example}
    message_id = stack.call("POST", "/v1/messages", body).json()["id"]
    path = f"/v1/messages/{message_id}"
    sent = wait_for(lambda: (m := stack.call("GET", path).json())["status"] == "sent" and m, WAIT_S)
    delivered = stack.settled_push("subscribe_msg_sent_event", openid)
    assert stack.call("GET", path).json()["status"] == "sent"  # ErrorCode 0 changes nothing

    msgid = sent["result"]["msgid"]
    failure = {"appid": stack.endpoints.app_id, "msgid": msgid, "error_code": 10005}
    answer = stack.sandbox_post("/sandbox/fail_delivery", failure)

    undelivered = stack.settled_push("subscribe_msg_sent_event", openid)
    found = stack.call("GET", path).json()
    assert answers(delivered) == answers(undelivered) == [(200, "success")]
    assert "<ErrorStatus><![CDATA[success]]></ErrorStatus>" in delivered["payload"]
    assert answer["push_id"] == undelivered["push_id"] > delivered["push_id"]
    assert (found["status"], found["result"]["errcode"]) == ("failed", 10005)


def test_stack_a_switch_off_push_rejects_the_long_term_grant_and_drops_credits(stack):
    openid = "oUserPush00000000000000000005"
    put = {"title": LONG_TERM.title, "kind": "long_term", "category": "transactional"}
    stack.call(
        "PUT", f"/v1/templates/{LONG_TERM.template_id}", {**put, "content": LONG_TERM.content}
    )
    added = {"appid": stack.endpoints.app_id, **vars(LONG_TERM)}
    assert stack.sandbox_post("/sandbox/templates", added)["errcode"] == 0
    for template_id in (SHIPPED_ID, SHIPPED_ID, LONG_TERM.template_id):
        stack.tap_and_report(openid, {template_id: "accept"})
    assert stack.subscription(openid, LONG_TERM.template_id)["long_term"] == "active"
    assert stack.subscription(openid, SHIPPED_ID)["credits"] == 2

    switch_off = [LONG_TERM.template_id, SHIPPED_ID]
    body = {"appid": stack.endpoints.app_id, "openid": openid, "template_ids": switch_off}
    answer = stack.sandbox_post("/sandbox/switch_off", body)

    push = stack.settled_push("subscribe_msg_change_event", openid)
    assert (answer["push_id"], answers(push)) == (push["push_id"], [(200, "success")])
    assert stack.subscription(openid, LONG_TERM.template_id)["long_term"] == "rejected"
    assert stack.subscription(openid, SHIPPED_ID)["credits"] == 0
    assert [entry for entry in stack.sandbox.ledger() if entry["openid"] == openid] == []


def test_stack_a_safe_mode_json_push_is_accepted_and_counted(stack):
    services = bootstrap.services()
    app = admin.new_app(SAFE_APP_ID, "Safe mode", callback_format="json", grant_source="callback")
    key = admin.create_app(services.app_secrets, app, SECRET)
    admin.set_callback_secrets(services.app_secrets, SAFE_APP_ID, TOKEN, AES_KEY)
    content = PutTemplate(
        title="Shipped",
        kind=TemplateKind.ONE_TIME,
        category=Category.TRANSACTIONAL,
        content=SHIPPED.content,
    )
    templates.put_template(services.core, SAFE_APP_ID, SHIPPED.template_id, content)
    callback_url = f"{stack.endpoints.api}/v1/wechat/{SAFE_APP_ID}/callback"
    stack.sandbox.add_app(
        SAFE_APP_ID,
        SECRET,
        callback_url=callback_url,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        fmt="json",
    )
    stack.sandbox.add_template(SAFE_APP_ID, SHIPPED)
    openid = "oUserPush00000000000000000006"

    stack.tap(openid, {SHIPPED.template_id: "accept"}, appid=SAFE_APP_ID)

    push = stack.settled_push("subscribe_msg_popup_event", openid)
    assert (push["mode"], push["format"]) == ("aes", "json")
    assert answers(push) == [(200, "success")]
    assert stack.subscription(openid, SHIPPED.template_id, key=key)["credits"] == 1
