"""A stand-in for WeChat's servers, for the local stack and the tests (SPEC §6, §7).

It serves stable_token, subscribe/send and gettemplate for made-up mini-programs, keeps each
user's subscriptions the way WeChat does, records the cards it accepts, fails on demand, pushes
subscription events to an app's callback URL (``local.sandbox_push``), and lists what it received
and pushed on a small HTML page. It listens on 127.0.0.1 only.

Every WeChat-style answer is HTTP 200 with an ``errcode``, as WeChat's are; only unknown paths
(404) and injected HTTP faults use other statuses. Where WeChat's behaviour is not documented,
the sandbox answers 47003 for a ``miniprogram_state`` or ``lang`` outside SPEC §6.1, and 41030
for a ``page`` that is not a relative path.
"""

from __future__ import annotations

import copy
import html
import ipaddress
import itertools
import json
import math
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeGuard, cast
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from chalicelib.domain.keywords import parse_content, validate_data
from chalicelib.domain.records import Keyword, TemplateKind
from local import sandbox_push
from local.sandbox_push import Pusher, PushTarget

TOKEN_TTL_S = 7200
MAX_BODY_BYTES = 1_000_000
# As large as WeChat's own msgids: callers must keep them as 64-bit integers.
FIRST_MSGID = 3_000_000_000_000_000_001
MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})
PROMPT_RESULTS = frozenset({"accept", "reject", "ban", "filter"})
MAX_TEMPLATES_PER_PROMPT = 3
DELIVERY_FAILED_STATUS = "fail"  # ErrorStatus of an injected delivery failure, unless given
STOP_POLL_S = 0.05  # how often the serving thread checks for stop()
WECHAT_TEMPLATE_TYPES = {TemplateKind.ONE_TIME: 2, TemplateKind.LONG_TERM: 3}
_PLACEHOLDER = re.compile(r"\{\{(\w+)\.DATA\}\}")

Json = dict[str, object]
_LedgerKey = tuple[str, str, str]  # appid, openid, template_id


@dataclass
class SandboxTemplate:
    template_id: str
    title: str
    content: str
    kind: str  # "one_time" | "long_term"
    enum_values: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fault:
    errcode: int | None
    http_status: int | None
    delay_s: float


class _Refusal(Exception):
    """Any answer but success; ``body`` is what the caller receives."""

    def __init__(self, errcode: int, errmsg: str, http_status: int = 200) -> None:
        super().__init__(errmsg)
        self.body: Json = {"errcode": errcode, "errmsg": errmsg}
        self.http_status = http_status


class _PromptFailed(_Refusal):
    """A failed wx.requestSubscribeMessage, shaped as the mini-program receives it."""

    def __init__(self, err_code: int, reason: str) -> None:
        super().__init__(err_code, reason)
        self.body = {"errMsg": f"requestSubscribeMessage:fail {reason}", "errCode": err_code}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_fault(errcode: object, http_status: object, delay_s: object) -> _Fault:
    if errcode is not None and (not _is_int(errcode) or errcode == 0):
        raise ValueError("errcode must be a non-zero integer")
    if http_status is not None and not (_is_int(http_status) and 400 <= http_status <= 599):
        raise ValueError("http_status must be an integer from 400 to 599")
    if not isinstance(delay_s, int | float) or isinstance(delay_s, bool):
        raise ValueError("delay_s must be a number")
    if not (math.isfinite(delay_s) and 0 <= delay_s <= 600):
        raise ValueError("delay_s must be between 0 and 600")
    if errcode is None and http_status is None and delay_s == 0:
        raise ValueError("a fault needs an errcode, an http_status or a delay_s")
    return _Fault(cast(int | None, errcode), cast(int | None, http_status), float(delay_s))


def _is_openid(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()


def _page(body: Json) -> str | None:
    page = body.get("page")
    if page is None or page == "":
        return None
    if not isinstance(page, str) or page.startswith("/") or "://" in page:
        raise _Refusal(41030, "invalid page")
    if not page.isprintable() or " " in page:
        raise _Refusal(41030, "invalid page")
    return page


def _choice(body: Json, name: str, allowed: frozenset[str], default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or value not in allowed:
        raise _Refusal(47003, f"argument invalid! {name} invalid")
    return value


def _keywords(template: SandboxTemplate) -> list[Keyword]:
    return [
        keyword.model_copy(update={"enum_values": template.enum_values.get(keyword.key, [])})
        for keyword in parse_content(template.content)
    ]


def _checked_data(template: SandboxTemplate, data: object) -> None:
    if not isinstance(data, dict):
        raise _Refusal(47003, "argument invalid! data must be an object")
    values = {
        key: entry.get("value") if isinstance(entry, dict) else None for key, entry in data.items()
    }
    problems = validate_data(_keywords(template), values)
    if problems:
        fields = "; ".join(f"{problem.field}.value {problem.problem}" for problem in problems)
        raise _Refusal(47003, f"argument invalid! {fields}")


def _wechat_template(template: SandboxTemplate) -> Json:
    return {
        "priTmplId": template.template_id,
        "title": template.title,
        "content": template.content,
        "example": _PLACEHOLDER.sub(r"\1", template.content),
        "type": WECHAT_TEMPLATE_TYPES[TemplateKind(template.kind)],
        "keywordEnumValueList": [
            {"keywordCode": key, "enumValueList": list(values)}
            for key, values in template.enum_values.items()
        ],
    }


class _WeChatState:
    """Apps, tokens, subscriptions, received cards and pending faults, behind one lock.

    Events go to ``pusher`` once the lock is released: a push never holds up the state.
    """

    def __init__(self, token_ttl_s: float, pusher: Pusher) -> None:
        self._lock = threading.Lock()
        self.pusher = pusher
        self._token_ttl_s = token_ttl_s
        self._secrets: dict[str, str] = {}
        self._templates: dict[str, dict[str, SandboxTemplate]] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> appid, expires_at
        self._latest_tokens: dict[str, str] = {}  # appid -> token
        self._one_time_credits: dict[_LedgerKey, int] = {}
        self._long_term_active: set[_LedgerKey] = set()
        self._cards: list[Json] = []
        self._faults: deque[_Fault] = deque()
        self._msgids = itertools.count(FIRST_MSGID)

    def add_app(self, appid: str, secret: str, target: PushTarget | None) -> None:
        with self._lock:
            self._secrets[appid] = secret
            self._templates.setdefault(appid, {})
        self.pusher.set_target(appid, target)

    def add_template(self, appid: str, template: SandboxTemplate) -> None:
        TemplateKind(template.kind)
        parse_content(template.content)
        with self._lock:
            if appid not in self._templates:
                raise ValueError(f"unknown appid {appid!r}: call add_app first")
            self._templates[appid][template.template_id] = copy.deepcopy(template)

    def add_faults(
        self, errcode: object, http_status: object, delay_s: object, count: object
    ) -> None:
        fault = _checked_fault(errcode, http_status, delay_s)
        if not (_is_int(count) and 1 <= count <= 10_000):
            raise ValueError("count must be an integer from 1 to 10000")
        with self._lock:
            self._faults.extend([fault] * count)

    def take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def issue_token(self, body: Json) -> Json:
        if body.get("grant_type") != "client_credential":
            raise _Refusal(40002, "invalid grant_type")
        appid = body.get("appid")
        with self._lock:
            if not isinstance(appid, str) or appid not in self._secrets:
                raise _Refusal(40013, "invalid appid")
            if body.get("secret") != self._secrets[appid]:
                raise _Refusal(40125, "invalid appsecret")
            token, expires_at = self._valid_token(appid, body.get("force_refresh") is True)
        return {"access_token": token, "expires_in": math.ceil(expires_at - time.time())}

    def _valid_token(self, appid: str, force_refresh: bool) -> tuple[str, float]:
        latest = self._latest_tokens.get(appid)
        if latest is not None and force_refresh:
            del self._tokens[latest]  # answers 40001 from now on, as WeChat's does
        elif latest is not None and self._tokens[latest][1] > time.time():
            return latest, self._tokens[latest][1]
        token, expires_at = secrets.token_urlsafe(48), time.time() + self._token_ttl_s
        self._tokens[token] = (appid, expires_at)
        self._latest_tokens[appid] = token
        return token, expires_at

    def app_of_token(self, query: dict[str, list[str]]) -> str:
        token = query.get("access_token", [""])[0]
        if not token:
            raise _Refusal(41001, "access_token missing")
        with self._lock:
            holder = self._tokens.get(token)
        if holder is None:
            raise _Refusal(40001, "invalid credential, access_token is invalid or not latest")
        if holder[1] <= time.time():
            raise _Refusal(42001, "access_token expired")
        return holder[0]

    def send(self, appid: str, body: Json) -> Json:
        received_at = time.time()
        with self._lock:
            template_id = body.get("template_id")
            template = self._templates[appid].get(
                template_id if isinstance(template_id, str) else ""
            )
            if template is None:
                raise _Refusal(40037, "invalid template_id")
            touser = body.get("touser")
            if not _is_openid(touser):
                raise _Refusal(40003, "invalid openid")
            card: Json = {
                "received_at": received_at,
                "appid": appid,
                "touser": touser,
                "template_id": template.template_id,
                "page": _page(body),
                "data": body.get("data"),
                "miniprogram_state": _choice(
                    body, "miniprogram_state", MINIPROGRAM_STATES, "formal"
                ),
                "lang": _choice(body, "lang", LANGS, "zh_CN"),
            }
            _checked_data(template, body.get("data"))
            self._spend_subscription((appid, touser, template.template_id), template.kind)
            card["msgid"] = msgid = next(self._msgids)
            self._cards.append(card)
        delivered = sandbox_push.sent_item(template.template_id, msgid, 0, "success")
        self.pusher.push(appid, sandbox_push.SENT, touser, [delivered])
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _spend_subscription(self, key: _LedgerKey, kind: str) -> None:
        if kind == TemplateKind.LONG_TERM:
            if key not in self._long_term_active:
                raise _Refusal(43101, "user refuse to accept the msg")
            return
        credits = self._one_time_credits.get(key, 0)
        if credits == 0:
            raise _Refusal(43101, "user refuse to accept the msg")
        self._one_time_credits[key] = credits - 1

    def templates(self, appid: str) -> list[Json]:
        with self._lock:
            return [_wechat_template(template) for template in self._templates[appid].values()]

    def prompt(self, body: Json) -> Json:
        """The user taps in wx.requestSubscribeMessage; answers what the mini-program gets."""
        appid, openid, results = body.get("appid"), body.get("openid"), body.get("results")
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise _PromptFailed(10004, "invalid appid")
            if not _is_openid(openid):
                raise _PromptFailed(10004, "invalid openid")
            if not isinstance(results, dict) or not results:
                raise _PromptFailed(10001, "tmplIds is empty")
            if len(results) > MAX_TEMPLATES_PER_PROMPT:
                raise _PromptFailed(20003, "too many tmplIds")
            templates = self._templates[appid]
            if any(template_id not in templates for template_id in results):
                raise _PromptFailed(20001, "No template data return, verify the template id exist")
            if any(not isinstance(r, str) or r not in PROMPT_RESULTS for r in results.values()):
                raise _PromptFailed(10004, "results must be accept, reject, ban or filter")
            if len({templates[template_id].kind for template_id in results}) > 1:
                raise _PromptFailed(20002, "one-time and long-term templates cannot be mixed")
            for template_id, result in results.items():
                self._record_tap((appid, openid, template_id), templates[template_id].kind, result)
        self.pusher.push(appid, sandbox_push.POPUP, openid, sandbox_push.popup_items(results))
        return {"errMsg": "requestSubscribeMessage:ok", **results}

    def _record_tap(self, key: _LedgerKey, kind: str, result: str) -> None:
        if kind == TemplateKind.ONE_TIME and result == "accept":
            self._one_time_credits[key] = self._one_time_credits.get(key, 0) + 1
        elif kind == TemplateKind.LONG_TERM and result == "accept":
            self._long_term_active.add(key)
        elif kind == TemplateKind.LONG_TERM and result == "reject":
            self._long_term_active.discard(key)

    def switch_off(self, appid: object, openid: object, template_ids: object) -> int | None:
        """The user turns templates off in WeChat's settings: what they held is gone."""
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise _Refusal(40013, "invalid appid")
            if not _is_openid(openid):
                raise _Refusal(40003, "invalid openid")
            known = self._templates[appid]
            if not isinstance(template_ids, list) or not template_ids:
                raise _Refusal(47001, "data format error: template_ids must be a non-empty list")
            if any(not isinstance(tid, str) or tid not in known for tid in template_ids):
                raise _Refusal(40037, "invalid template_id")
            for template_id in template_ids:
                self._one_time_credits.pop((appid, openid, template_id), None)
                self._long_term_active.discard((appid, openid, template_id))
        return self.pusher.push(
            appid, sandbox_push.CHANGE, openid, sandbox_push.change_items(template_ids)
        )

    def fail_delivery(
        self, appid: object, msgid: object, error_code: object, error_status: object
    ) -> int:
        """WeChat reports, after accepting a card, that it could not deliver it."""
        if not (_is_int(error_code) and error_code != 0):
            raise _Refusal(47001, "data format error: error_code must be a non-zero integer")
        if not isinstance(error_status, str) or not error_status:
            raise _Refusal(47001, "data format error: error_status must be a non-empty string")
        with self._lock:
            if not isinstance(appid, str) or appid not in self._templates:
                raise _Refusal(40013, "invalid appid")
            card = next(
                (c for c in self._cards if c["msgid"] == msgid and c["appid"] == appid), None
            )
            if card is None:
                raise _Refusal(47001, "data format error: no card with this msgid")
        item = sandbox_push.sent_item(
            cast(str, card["template_id"]), cast(int, msgid), error_code, error_status
        )
        push_id = self.pusher.push(appid, sandbox_push.SENT, cast(str, card["touser"]), [item])
        if push_id is None:
            raise _Refusal(47001, "data format error: the app has no callback_url")
        return push_id

    def received(self) -> list[Json]:
        with self._lock:
            return copy.deepcopy(self._cards)

    def ledger(self) -> list[Json]:
        with self._lock:
            keys = sorted(self._one_time_credits.keys() | self._long_term_active)
            return [
                {
                    "appid": appid,
                    "openid": openid,
                    "template_id": template_id,
                    "one_time_credits": self._one_time_credits.get((appid, openid, template_id), 0),
                    "long_term_active": (appid, openid, template_id) in self._long_term_active,
                }
                for appid, openid, template_id in keys
            ]


@dataclass(frozen=True)
class _Request:
    query: dict[str, list[str]]
    body: bytes

    def json_object(self) -> Json:
        try:
            parsed = json.loads(self.body)
        except (ValueError, RecursionError):
            raise _Refusal(47001, "data format error") from None
        if not isinstance(parsed, dict):
            raise _Refusal(47001, "data format error")
        return parsed


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"


def _json_answer(payload: object, status: int = 200) -> _Answer:
    return _Answer(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _stable_token(state: _WeChatState, request: _Request) -> _Answer:
    return _json_answer(state.issue_token(request.json_object()))


def _send(state: _WeChatState, request: _Request) -> _Answer:
    fault = state.take_fault()
    try:
        if fault is not None and fault.http_status is not None:
            raise _Refusal(fault.errcode or -1, "system error", fault.http_status)
        if fault is not None and fault.errcode is not None:
            raise _Refusal(fault.errcode, "injected fault")
        return _json_answer(state.send(state.app_of_token(request.query), request.json_object()))
    finally:
        # After the card is recorded: a caller that times out has still had its card delivered.
        time.sleep(fault.delay_s if fault else 0)


def _get_templates(state: _WeChatState, request: _Request) -> _Answer:
    data = state.templates(state.app_of_token(request.query))
    return _json_answer({"errcode": 0, "errmsg": "ok", "data": data})


def _prompt(state: _WeChatState, request: _Request) -> _Answer:
    return _json_answer(state.prompt(request.json_object()))


def _messages(state: _WeChatState, _: _Request) -> _Answer:
    return _json_answer(state.received())


def _ledger(state: _WeChatState, _: _Request) -> _Answer:
    return _json_answer(state.ledger())


def _faults(state: _WeChatState, request: _Request) -> _Answer:
    body = request.json_object()
    try:
        fault_spec = (body.get("errcode"), body.get("http_status"), body.get("delay_s", 0.0))
        state.add_faults(*fault_spec, count=body.get("count", 1))
    except ValueError as exc:
        raise _Refusal(47001, f"data format error: {exc}") from None
    return _json_answer({"errcode": 0, "errmsg": "ok"})


def _switch_off(state: _WeChatState, request: _Request) -> _Answer:
    body = request.json_object()
    push_id = state.switch_off(body.get("appid"), body.get("openid"), body.get("template_ids"))
    return _json_answer({"errcode": 0, "errmsg": "ok", "push_id": push_id})


def _fail_delivery(state: _WeChatState, request: _Request) -> _Answer:
    body = request.json_object()
    push_id = state.fail_delivery(
        body.get("appid"),
        body.get("msgid"),
        body.get("error_code"),
        body.get("error_status", DELIVERY_FAILED_STATUS),
    )
    return _json_answer({"errcode": 0, "errmsg": "ok", "push_id": push_id})


def _repeat_push(state: _WeChatState, request: _Request) -> _Answer:
    try:
        push_id = state.pusher.repeat(request.json_object().get("push_id"))
    except ValueError as exc:
        raise _Refusal(47001, f"data format error: {exc}") from None
    return _json_answer({"errcode": 0, "errmsg": "ok", "push_id": push_id})


def _pushes(state: _WeChatState, _: _Request) -> _Answer:
    return _json_answer(state.pusher.records())


def _home_page(state: _WeChatState, _: _Request) -> _Answer:
    cards, ledger = state.received(), state.ledger()
    templates = {
        (appid, str(template["priTmplId"])): template
        for appid in sorted({str(item["appid"]) for item in [*cards, *ledger]})
        for template in state.templates(appid)
    }
    page = _render_page(cards, ledger, state.pusher.records(), templates)
    return _Answer(200, page.encode("utf-8"), "text/html; charset=utf-8")


_ROUTES: dict[tuple[str, str], Callable[[_WeChatState, _Request], _Answer]] = {
    ("POST", "/cgi-bin/stable_token"): _stable_token,
    ("POST", "/cgi-bin/message/subscribe/send"): _send,
    ("GET", "/wxaapi/newtmpl/gettemplate"): _get_templates,
    ("POST", "/sandbox/subscribe"): _prompt,
    ("GET", "/sandbox/messages"): _messages,
    ("GET", "/sandbox/ledger"): _ledger,
    ("POST", "/sandbox/faults"): _faults,
    ("POST", "/sandbox/switch_off"): _switch_off,
    ("POST", "/sandbox/fail_delivery"): _fail_delivery,
    ("POST", "/sandbox/repeat_push"): _repeat_push,
    ("GET", "/sandbox/pushes"): _pushes,
    ("GET", "/"): _home_page,
}


PAGE_ZONE = "Asia/Shanghai"  # WeChat's users read cards in China time
ABSENT = "—"
_PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;padding:16px 24px;max-width:1200px;
color:#1f2328;background:#f6f8fa;overflow-wrap:anywhere;word-break:break-word}
h1{font-size:1.3em;margin:24px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;min-width:0}
.card h2{font-size:1.1em;margin:0 0 8px}
.card .template-id{font-size:.8em;color:#57606a;font-weight:normal}
dl{display:grid;grid-template-columns:fit-content(45%) minmax(0,1fr);gap:2px 12px;
margin:0}
dt{color:#57606a}
dd{margin:0;white-space:pre-wrap}
.keywords{padding-bottom:8px;margin-bottom:8px;border-bottom:1px solid #eaeef2}
.keywords dd{font-weight:600}
.key{color:#8c959f;font-size:.8em}
.meta{font-size:.85em}
table{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff}
td,th{border:1px solid #d0d7de;padding:4px;white-space:pre-wrap;vertical-align:top;
text-align:left;overflow-wrap:anywhere;word-break:break-word}
"""


def _text(value: object) -> str:
    """Escaped text of a value; a missing one is a dash, never ``None``."""
    return ABSENT if value is None or value == "" else html.escape(str(value))


def _cells(values: list[object]) -> str:
    return "<tr>" + "".join(f"<td>{_text(value)}</td>" for value in values) + "</tr>"


def _moment(epoch_s: float) -> str:
    """When a card arrived: UTC (ISO 8601, Z), then the time in PAGE_ZONE."""
    utc = datetime.fromtimestamp(epoch_s, UTC)
    local = utc.astimezone(ZoneInfo(PAGE_ZONE))
    iso = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    offset = local.strftime("%z")
    return (
        f'<time datetime="{iso}">{iso}</time> (UTC)<br>'
        f"{local:%Y-%m-%d %H:%M:%S} {PAGE_ZONE} (UTC{offset[:3]}:{offset[3:]})"
    )


def _card_keywords(template: Json | None, data: object) -> list[tuple[str, str, object]]:
    """(key, name, value) for each keyword: the template's, in order, then any others sent."""
    values = data if isinstance(data, dict) else {}
    names = {k.key: k.name for k in parse_content(str(template["content"]))} if template else {}
    keys = [*names, *(key for key in values if key not in names)]
    found = []
    for key in keys:
        entry = values.get(key)
        found.append(
            (key, names.get(key, key), entry.get("value") if isinstance(entry, dict) else None)
        )
    return found


def _definitions(pairs: list[tuple[str, str]]) -> str:
    """<dt>/<dd> pairs; values are HTML already."""
    return "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in pairs)


def _card(card: Json, template: Json | None) -> str:
    title = _text(template["title"]) if template else "unknown template"
    keywords = _definitions(
        [
            (f'{_text(name)} <span class="key">{_text(key)}</span>', _text(value))
            for key, name, value in _card_keywords(template, card.get("data"))
        ]
    )
    meta = _definitions(
        [
            ("page", _text(card.get("page"))),
            ("openid", _text(card.get("touser"))),
            ("received", _moment(cast(float, card["received_at"]))),
            ("msgid", _text(card.get("msgid"))),
            ("appid", _text(card.get("appid"))),
            ("state, lang", f"{_text(card.get('miniprogram_state'))}, {_text(card.get('lang'))}"),
        ]
    )
    return f"""<article class="card">
<h2>{title} <span class="template-id">{_text(card.get("template_id"))}</span></h2>
<dl class="keywords">{keywords}</dl>
<dl class="meta">{meta}</dl>
</article>
"""


def _ledger_row(entry: Json, template: Json | None) -> str:
    template_id = entry["template_id"]
    template_text = f"{template['title']}\n{template_id}" if template else template_id
    active = "yes" if entry["long_term_active"] else "no"
    return _cells(
        [entry["appid"], entry["openid"], template_text, entry["one_time_credits"], active]
    )


def _render_page(
    cards: list[Json],
    ledger: list[Json],
    pushes: list[Json],
    templates: dict[tuple[str, str], Json],
) -> str:
    """``templates``: gettemplate's entries by (appid, template id), for titles and names."""

    def template_of(item: Json) -> Json | None:
        return templates.get((str(item.get("appid")), str(item.get("template_id"))))

    card_list = "".join(_card(card, template_of(card)) for card in reversed(cards))
    ledger_rows = "".join(_ledger_row(entry, template_of(entry)) for entry in ledger)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WeChat sandbox</title>
<style>{_PAGE_STYLE}</style></head><body>
<h1>Cards received ({len(cards)}), newest first</h1>
<div class="cards">{card_list}</div>
<h1>Subscriptions</h1>
<table><tr><th>appid</th><th>openid</th><th>template</th><th>one-time credits</th>
<th>long-term active</th></tr>{ledger_rows}</table>
{sandbox_push.render_pushes(pushes)}</body></html>
"""


class _Server(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], state: _WeChatState, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is no fault
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # a client that stalls mid-body cannot hold a thread for ever

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the default line quotes the query string, which holds the access token."""

    def _dispatch(self, method: str) -> None:
        server = cast(_Server, self.server)
        url = urlsplit(self.path)
        route = _ROUTES.get((method, url.path))
        try:
            if route is None:
                raise _Refusal(40066, "invalid url", 404)
            answer = route(server.state, _Request(parse_qs(url.query), self._body()))
        except _Refusal as refusal:
            answer = _json_answer(refusal.body, refusal.http_status)
        self._write(answer)
        if server.verbose:
            print(f"sandbox: {method} {url.path} {answer.status}", flush=True)

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES:
            raise _Refusal(47001, "data format error")
        try:
            return self.rfile.read(int(length))
        except TimeoutError:
            raise _Refusal(47001, "data format error") from None

    def _write(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except ConnectionError:
            pass  # the caller stopped waiting (an injected delay): there is no one left to tell


def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox listens on a loopback address only, not {host!r}")


class Sandbox:
    """WeChat's servers for made-up mini-programs, served from a daemon thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
        token_ttl_s: float = TOKEN_TTL_S,
        push_retry_delay_s: float = sandbox_push.RETRY_DELAY_S,
        push_timeout_s: float = sandbox_push.PUSH_TIMEOUT_S,
    ) -> None:
        _require_loopback(host)
        self._address = (host, port)
        self._verbose = verbose
        self._pusher = Pusher(push_retry_delay_s, push_timeout_s)
        self._state = _WeChatState(token_ttl_s, self._pusher)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add_app(
        self,
        appid: str,
        secret: str,
        *,
        callback_url: str | None = None,
        token: str | None = None,
        encoding_aes_key: str | None = None,
        fmt: str = "xml",
    ) -> None:
        """Add (or reconfigure) an app; with a ``callback_url`` its events are pushed there,
        in safe mode when an ``encoding_aes_key`` is given."""
        target = sandbox_push.push_target(appid, callback_url, token, encoding_aes_key, fmt)
        self._state.add_app(appid, secret, target)

    def add_template(self, appid: str, template: SandboxTemplate) -> None:
        self._state.add_template(appid, template)

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._server = _Server(self._address, self._state, self._verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": STOP_POLL_S},
            name="wechat-sandbox",
            daemon=True,
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving, then give up the pushes waiting to be retried."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None
        self._pusher.stop()

    def received(self) -> list[Json]:
        return self._state.received()

    def ledger(self) -> list[Json]:
        return self._state.ledger()

    def inject_faults(
        self,
        errcode: int | None = None,
        http_status: int | None = None,
        delay_s: float = 0.0,
        count: int = 1,
    ) -> None:
        self._state.add_faults(errcode, http_status, delay_s, count)

    def switch_off(self, appid: str, openid: str, template_ids: list[str]) -> int | None:
        """As ``POST /sandbox/switch_off``; the push id, or None when the app has no callback."""
        try:
            return self._state.switch_off(appid, openid, template_ids)
        except _Refusal as refusal:
            raise ValueError(str(refusal)) from None

    def fail_delivery(
        self,
        appid: str,
        msgid: int,
        error_code: int,
        error_status: str = DELIVERY_FAILED_STATUS,
    ) -> int:
        """As ``POST /sandbox/fail_delivery``: push a sent event with ``error_code``."""
        try:
            return self._state.fail_delivery(appid, msgid, error_code, error_status)
        except _Refusal as refusal:
            raise ValueError(str(refusal)) from None

    def repeat_push(self, push_id: int) -> int:
        return self._pusher.repeat(push_id)

    def pushes(self) -> list[Json]:
        return self._pusher.records()

    def wait_for_pushes(self, timeout_s: float = 10.0) -> bool:
        """True once every push so far is answered or given up; False after ``timeout_s``."""
        return self._pusher.wait_idle(timeout_s)
