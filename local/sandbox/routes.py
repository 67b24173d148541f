"""The sandbox's HTTP routes: WeChat's own (stable_token, send, gettemplate), then the
sandbox's (``/sandbox/...``: taps, templates, faults, pushes) and the page.

Every WeChat-style answer is HTTP 200 with an ``errcode``, as WeChat's are; only unknown paths
(404) and injected HTTP faults use other statuses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.sandbox import page
from local.sandbox.base import Json, Refusal, bad_input
from local.sandbox.state import WeChatState
from local.sandbox.templates import SandboxTemplate

DELIVERY_FAILED_STATUS = "fail"  # ErrorStatus of an injected delivery failure, unless given
OK: Json = {"errcode": 0, "errmsg": "ok"}


@dataclass(frozen=True)
class Request:
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    def json_object(self) -> Json:
        try:
            parsed = json.loads(self.body)
        except (ValueError, RecursionError):
            raise Refusal(47001, "data format error") from None
        if not isinstance(parsed, dict):
            raise Refusal(47001, "data format error")
        return parsed


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"


def json_answer(payload: object, status: int = 200) -> Answer:
    return Answer(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _stable_token(state: WeChatState, request: Request) -> Answer:
    return json_answer(state.issue_token(request.json_object()))


def _send(state: WeChatState, request: Request) -> Answer:
    fault = state.faults.take()
    try:
        if fault is not None and fault.http_status is not None:
            raise Refusal(fault.errcode or -1, "system error", fault.http_status)
        if fault is not None and fault.errcode is not None:
            raise Refusal(fault.errcode, "injected fault")
        return json_answer(state.send(state.app_of_token(request.query), request.json_object()))
    finally:
        # After the card is recorded: a caller that times out has still had its card delivered.
        time.sleep(fault.delay_s if fault else 0)


def _get_templates(state: WeChatState, request: Request) -> Answer:
    data = state.templates(state.app_of_token(request.query))
    return json_answer({**OK, "data": data})


def _prompt(state: WeChatState, request: Request) -> Answer:
    return json_answer(state.prompt(request.json_object()))


def _add_template(state: WeChatState, request: Request) -> Answer:
    """A template of the developer's own, as ``Sandbox.add_template``; 47001 for bad input."""
    body = request.json_object()
    fields: dict[str, Any] = {
        name: body.get(name) for name in ("template_id", "title", "content", "kind")
    }
    template = SandboxTemplate(**fields, enum_values=body.get("enum_values", {}))
    try:
        state.add_template(body.get("appid"), template)
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    return json_answer(OK)


def _faults(state: WeChatState, request: Request) -> Answer:
    body = request.json_object()
    try:
        fault = (body.get("errcode"), body.get("http_status"), body.get("delay_s", 0.0))
        state.faults.add(*fault, count=body.get("count", 1))
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    return json_answer(OK)


def _switch_off(state: WeChatState, request: Request) -> Answer:
    body = request.json_object()
    push_id = state.switch_off(body.get("appid"), body.get("openid"), body.get("template_ids"))
    return json_answer({**OK, "push_id": push_id})


def _fail_delivery(state: WeChatState, request: Request) -> Answer:
    body = request.json_object()
    status = body.get("error_status", DELIVERY_FAILED_STATUS)
    push_id = state.fail_delivery(
        body.get("appid"), body.get("msgid"), body.get("error_code"), status
    )
    return json_answer({**OK, "push_id": push_id})


def _repeat_push(state: WeChatState, request: Request) -> Answer:
    try:
        push_id = state.pusher.repeat(request.json_object().get("push_id"))
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    return json_answer({**OK, "push_id": push_id})


def _messages(state: WeChatState, request: Request) -> Answer:
    """The cards received, in order; ``?since=N`` leaves out the first N (a poller that keeps
    count reads only the new ones)."""
    since = request.query.get("since", ["0"])[-1]
    if not (since.isascii() and since.isdigit()):
        raise bad_input("since must be a whole number of cards")
    return json_answer(state.received(since=int(since)))


def _receive_webhook(state: WeChatState, request: Request) -> Answer:
    return Answer(state.webhooks.receive(request.body, request.headers), b"", "text/plain")


def _webhook_secret(state: WeChatState, request: Request) -> Answer:
    try:
        state.webhooks.add_secret(request.json_object().get("secret"))
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    return json_answer(OK)


def _webhook_faults(state: WeChatState, request: Request) -> Answer:
    body = request.json_object()
    try:
        state.webhooks.fail_next(body.get("status"), body.get("count", 1))
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    return json_answer(OK)


def _home_page(state: WeChatState, _: Request) -> Answer:
    cards, ledger = state.received(), state.ledger()
    templates = {
        (appid, str(template["priTmplId"])): template
        for appid in sorted({str(item["appid"]) for item in [*cards, *ledger]})
        for template in state.templates(appid)
    }
    html = page.render(cards, ledger, state.pusher.records(), templates, state.webhooks.records())
    return Answer(200, html.encode("utf-8"), "text/html; charset=utf-8")


ROUTES: dict[tuple[str, str], Callable[[WeChatState, Request], Answer]] = {
    ("POST", "/cgi-bin/stable_token"): _stable_token,
    ("POST", "/cgi-bin/message/subscribe/send"): _send,
    ("GET", "/wxaapi/newtmpl/gettemplate"): _get_templates,
    ("POST", "/sandbox/subscribe"): _prompt,
    ("POST", "/sandbox/templates"): _add_template,
    ("GET", "/sandbox/messages"): _messages,
    ("GET", "/sandbox/ledger"): lambda state, _: json_answer(state.ledger()),
    ("POST", "/sandbox/faults"): _faults,
    ("POST", "/sandbox/switch_off"): _switch_off,
    ("POST", "/sandbox/fail_delivery"): _fail_delivery,
    ("POST", "/sandbox/repeat_push"): _repeat_push,
    ("GET", "/sandbox/pushes"): lambda state, _: json_answer(state.pusher.records()),
    ("POST", "/sandbox/webhooks/receive"): _receive_webhook,
    ("POST", "/sandbox/webhooks/secrets"): _webhook_secret,
    ("POST", "/sandbox/webhooks/faults"): _webhook_faults,
    ("GET", "/sandbox/webhooks"): lambda state, _: json_answer(state.webhooks.records()),
    ("GET", "/"): _home_page,
}
