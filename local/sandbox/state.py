"""WeChat's side of made-up mini-programs: apps, templates, tokens, what each user allowed, the
cards accepted. One lock guards it all; events go to the pusher once the lock is released, so a
push never holds up the state."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from typing import cast

from local.sandbox import base, events, rules, templates
from local.sandbox.base import Json, PromptFailed, Refusal, bad_input, is_int, is_openid
from local.sandbox.faults import Faults
from local.sandbox.ledger import Ledger
from local.sandbox.push import Pusher
from local.sandbox.receiver import Receiver
from local.sandbox.templates import SandboxTemplate
from local.sandbox.tokens import Tokens

# As large as WeChat's own msgids: callers must keep them as 64-bit integers.
FIRST_MSGID = 3_000_000_000_000_000_001
PROMPT_RESULTS = base.ALLOWS | {"reject", "ban", "filter"}
PROMPT_ORDER = sorted(PROMPT_RESULTS)
MAX_TEMPLATES_PER_PROMPT = 3


def _check_data(template: SandboxTemplate, data: object) -> None:
    if not isinstance(data, dict):
        raise Refusal(47003, "argument invalid! data must be an object")
    if problems := rules.data_problems(templates.keywords(template), data):
        fields = "; ".join(f"{field} {problem}" for field, problem in problems)
        raise Refusal(47003, f"argument invalid! {fields}")


class WeChatState:
    def __init__(self, token_ttl_s: float, pusher: Pusher) -> None:
        self._lock = threading.Lock()
        self.pusher = pusher
        self.faults = Faults()
        self.webhooks = Receiver()  # the app backend's webhook receiver
        self._tokens = Tokens(token_ttl_s)
        self._ledger = Ledger()
        self._secrets: dict[str, str] = {}
        self._templates: dict[str, dict[str, SandboxTemplate]] = {}
        self._cards: list[Json] = []
        self._msgids = itertools.count(FIRST_MSGID)

    def add_app(self, appid: str, secret: str, target: events.PushTarget | None) -> None:
        with self._lock:
            self._secrets[appid] = secret
            self._templates.setdefault(appid, {})
        self.pusher.set_target(appid, target)

    def add_template(self, appid: object, template: SandboxTemplate) -> None:
        templates.check(template)
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise ValueError(f"unknown appid {appid!r}: call add_app first")
            self._templates[appid][template.template_id] = copy.deepcopy(template)

    def issue_token(self, body: Json) -> Json:
        if body.get("grant_type") != "client_credential":
            raise Refusal(40002, "invalid grant_type")
        appid = body.get("appid")
        with self._lock:
            if not isinstance(appid, str) or appid not in self._secrets:
                raise Refusal(40013, "invalid appid")
            if body.get("secret") != self._secrets[appid]:
                raise Refusal(40125, "invalid appsecret")
            return self._tokens.issue(appid, body.get("force_refresh") is True)

    def app_of_token(self, query: dict[str, list[str]]) -> str:
        with self._lock:
            return self._tokens.app_of(query)

    def send(self, appid: str, body: Json) -> Json:
        received_at = time.time()
        with self._lock:
            template_id = body.get("template_id")
            template = self._templates[appid].get(
                template_id if isinstance(template_id, str) else ""
            )
            if template is None:
                raise Refusal(40037, "invalid template_id")
            touser = body.get("touser")
            if not is_openid(touser):
                raise Refusal(40003, "invalid openid")
            card: Json = {
                "received_at": received_at,
                "appid": appid,
                "touser": touser,
                "template_id": template.template_id,
                "page": base.checked_page(body),
                "data": body.get("data"),
                "miniprogram_state": base.checked_choice(
                    body, "miniprogram_state", base.MINIPROGRAM_STATES, "formal"
                ),
                "lang": base.checked_choice(body, "lang", base.LANGS, "zh_CN"),
            }
            _check_data(template, body.get("data"))
            self._ledger.spend((appid, touser, template.template_id), template.kind)
            card["msgid"] = msgid = next(self._msgids)
            self._cards.append(card)
        delivered = events.sent_item(template.template_id, msgid, 0, "success")
        self.pusher.push(appid, events.SENT, touser, [delivered])
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def templates(self, appid: str) -> list[Json]:
        with self._lock:
            return [templates.wechat_shape(t) for t in self._templates[appid].values()]

    def prompt(self, body: Json) -> Json:
        """The user taps in wx.requestSubscribeMessage; answers what the mini-program gets."""
        appid, openid, results = body.get("appid"), body.get("openid"), body.get("results")
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise PromptFailed(10004, "invalid appid")
            if not is_openid(openid):
                raise PromptFailed(10004, "invalid openid")
            if not isinstance(results, dict) or not results:
                raise PromptFailed(10001, "tmplIds is empty")
            if len(results) > MAX_TEMPLATES_PER_PROMPT:
                raise PromptFailed(20003, "too many tmplIds")
            known = self._templates[appid]
            if any(template_id not in known for template_id in results):
                raise PromptFailed(20001, "No template data return, verify the template id exist")
            if any(not isinstance(r, str) or r not in PROMPT_RESULTS for r in results.values()):
                raise PromptFailed(10004, f"results must be one of {', '.join(PROMPT_ORDER)}")
            if len({known[template_id].kind for template_id in results}) > 1:
                raise PromptFailed(20002, "one-time and long-term templates cannot be mixed")
            for template_id, result in results.items():
                self._ledger.tap((appid, openid, template_id), known[template_id].kind, result)
        if body.get("push", True) is not False:  # false: an app without message push set up
            self.pusher.push(appid, events.POPUP, openid, events.popup_items(results))
        return {"errMsg": "requestSubscribeMessage:ok", **results}

    def switch_off(self, appid: object, openid: object, template_ids: object) -> int | None:
        """The user turns templates off in WeChat's settings; the push id, if any."""
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise Refusal(40013, "invalid appid")
            if not is_openid(openid):
                raise Refusal(40003, "invalid openid")
            if not isinstance(template_ids, list) or not template_ids:
                raise bad_input("template_ids must be a non-empty list")
            known = self._templates[appid]
            if any(not isinstance(tid, str) or tid not in known for tid in template_ids):
                raise Refusal(40037, "invalid template_id")
            for template_id in template_ids:
                self._ledger.switch_off((appid, openid, template_id))
        return self.pusher.push(appid, events.CHANGE, openid, events.change_items(template_ids))

    def fail_delivery(
        self, appid: object, msgid: object, error_code: object, error_status: object
    ) -> int:
        """WeChat reports, after accepting a card, that it could not deliver it."""
        if not (is_int(error_code) and error_code != 0):
            raise bad_input("error_code must be a non-zero integer")
        if not isinstance(error_status, str) or not error_status:
            raise bad_input("error_status must be a non-empty string")
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise Refusal(40013, "invalid appid")
            cards = (c for c in self._cards if c["msgid"] == msgid and c["appid"] == appid)
            if (card := next(cards, None)) is None:
                raise bad_input("no card with this msgid")
        template_id, touser = cast(str, card["template_id"]), cast(str, card["touser"])
        item = events.sent_item(template_id, cast(int, msgid), error_code, error_status)
        if (push_id := self.pusher.push(appid, events.SENT, touser, [item])) is None:
            raise bad_input("the app has no callback_url")
        return push_id

    def received(self, since: int = 0) -> list[Json]:
        with self._lock:
            return copy.deepcopy(self._cards[since:])

    def ledger(self) -> list[Json]:
        with self._lock:
            return self._ledger.rows()
