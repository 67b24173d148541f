"""The sandbox's pushes of subscription events to a mini-program's callback URL (SPEC §6.5).

Each push is signed as WeChat signs it (plain mode, or safe mode with an ``<Encrypt>`` envelope),
sent from a thread of its own so the action that caused it answers at once, and retried up to
``MAX_RETRIES`` times after a delay when the answer is not ``success``. Every push, its attempts
and their answers are kept for ``GET /sandbox/pushes`` and the sandbox's page. Pushes go to
127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import requests

from chalicelib.adapters import callback_codec

POPUP = "subscribe_msg_popup_event"
CHANGE = "subscribe_msg_change_event"
SENT = "subscribe_msg_sent_event"
CONTAINERS = {
    POPUP: "SubscribeMsgPopupEvent",
    CHANGE: "SubscribeMsgChangeEvent",
    SENT: "SubscribeMsgSentEvent",
}
FORMATS = frozenset({"xml", "json"})
MAX_RETRIES = 3  # as WeChat: three more tries after the first
RETRY_DELAY_S = 5.0
PUSH_TIMEOUT_S = 5.0  # WeChat stops waiting for an answer after 5 s
ANSWER_LIMIT = 200  # characters of an answer kept in the record
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}

Json = dict[str, object]
Item = dict[str, str]


@dataclass(frozen=True)
class PushTarget:
    """Where and how one app's events are pushed; ``encoding_aes_key`` set means safe mode."""

    callback_url: str
    token: str
    encoding_aes_key: str | None = None
    fmt: str = "xml"

    @property
    def mode(self) -> str:
        return "plain" if self.encoding_aes_key is None else "aes"


def require_loopback_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1":
        raise ValueError(f"the sandbox pushes to http://127.0.0.1 only, not {url!r}")


def push_target(
    appid: str,
    callback_url: str | None,
    token: str | None,
    encoding_aes_key: str | None,
    fmt: str,
) -> PushTarget | None:
    """The checked push settings of an app, or None when it has no callback URL."""
    if callback_url is None:
        if token is not None or encoding_aes_key is not None:
            raise ValueError("a callback token or EncodingAESKey needs a callback_url")
        return None
    require_loopback_url(callback_url)
    if not token:
        raise ValueError("a callback_url needs a token: WeChat signs every push with it")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be xml or json, not {fmt!r}")
    if encoding_aes_key is not None:
        callback_codec.encrypt(b"", encoding_aes_key, appid)  # refuses a malformed key now
    return PushTarget(callback_url, token, encoding_aes_key, fmt)


def popup_items(results: Mapping[str, str], popup_scene: str = "0") -> list[Item]:
    """Only accept and reject reach the callback; ban and filter are the client's alone."""
    return [
        {"TemplateId": tid, "SubscribeStatusString": result, "PopupScene": popup_scene}
        for tid, result in results.items()
        if result in ("accept", "reject")
    ]


def sent_item(template_id: str, msgid: int, error_code: int, error_status: str) -> Item:
    return {
        "TemplateId": template_id,
        "MsgID": str(msgid),
        "ErrorCode": str(error_code),
        "ErrorStatus": error_status,
    }


def change_items(template_ids: Sequence[str]) -> list[Item]:
    return [{"TemplateId": tid, "SubscribeStatusString": "reject"} for tid in template_ids]


@dataclass(frozen=True)
class Event:
    name: str
    openid: str
    create_time: int
    items: tuple[Item, ...]


def original_id(appid: str) -> str:
    """A made-up ``gh_`` original id of the mini-program, the ToUserName of its events."""
    return "gh_" + hashlib.sha1(appid.encode()).hexdigest()[:12]


def event_fields(event: Event, to_user: str) -> Json:
    """The JSON shape: numbers as strings, ``List`` an object for one item, an array otherwise."""
    items = [dict(item) for item in event.items]
    return {
        "ToUserName": to_user,
        "FromUserName": event.openid,
        "CreateTime": str(event.create_time),
        "MsgType": "event",
        "Event": event.name,
        CONTAINERS[event.name]: {"List": items[0] if len(items) == 1 else items},
    }


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml(fields: Mapping[str, str]) -> str:
    return "".join(f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items())


def render(event: Event, to_user: str, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(event_fields(event, to_user), ensure_ascii=False).encode("utf-8")
    head = {"ToUserName": to_user, "FromUserName": event.openid}
    items = "".join(f"<List>{_xml(item)}</List>" for item in event.items)
    container = CONTAINERS[event.name]
    return (
        f"<xml>{_xml(head)}<CreateTime>{event.create_time}</CreateTime>"
        f"{_xml({'MsgType': 'event', 'Event': event.name})}"
        f"<{container}>{items}</{container}></xml>"
    ).encode()


@dataclass(frozen=True)
class SignedPush:
    query: dict[str, str]
    body: bytes


def signed_push(
    target: PushTarget, appid: str, to_user: str, plaintext: bytes, timestamp: str, nonce: str
) -> SignedPush:
    query = {
        "signature": callback_codec.url_signature(target.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    if target.encoding_aes_key is None:
        return SignedPush(query, plaintext)
    encrypted = callback_codec.encrypt(plaintext, target.encoding_aes_key, appid)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = callback_codec.msg_signature(target.token, timestamp, nonce, encrypted)
    if target.fmt == "json":
        body = json.dumps({"ToUserName": to_user, "Encrypt": encrypted}).encode()
    else:
        body = f"<xml>{_xml({'ToUserName': to_user, 'Encrypt': encrypted})}</xml>".encode()
    return SignedPush(query, body)


@dataclass(frozen=True)
class Attempt:
    at: float
    status: int | None  # None: no HTTP answer (refused, timed out)
    answer: str

    @property
    def delivered(self) -> bool:
        return self.status == 200 and self.answer == "success"


@dataclass
class PushRecord:
    push_id: int
    appid: str
    event: Event
    target: PushTarget
    payload: str  # the event before any encryption
    repeat_of: int | None = None
    state: str = "pending"  # pending | delivered | failed
    attempts: list[Attempt] = field(default_factory=list)

    def to_json(self) -> Json:
        return {
            "push_id": self.push_id,
            "appid": self.appid,
            "event": self.event.name,
            "openid": self.event.openid,
            "create_time": self.event.create_time,
            "url": self.target.callback_url,
            "mode": self.target.mode,
            "format": self.target.fmt,
            "payload": self.payload,
            "repeat_of": self.repeat_of,
            "state": self.state,
            "attempts": [vars(attempt) for attempt in self.attempts],
        }


def _post(target: PushTarget, push: SignedPush, timeout_s: float) -> Attempt:
    require_loopback_url(target.callback_url)
    at = time.time()
    headers = {"Content-Type": CONTENT_TYPES[target.fmt]}
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxy from the environment: 127.0.0.1 means here
            answer = session.post(
                target.callback_url,
                params=push.query,
                data=push.body,
                headers=headers,
                timeout=timeout_s,
                allow_redirects=False,
            )
    except requests.RequestException as exc:
        return Attempt(at, None, type(exc).__name__)
    return Attempt(at, answer.status_code, answer.text[:ANSWER_LIMIT])


class Pusher:
    """Push targets by appid, and every push made, behind one lock."""

    def __init__(self, retry_delay_s: float, timeout_s: float) -> None:
        self._retry_delay_s = retry_delay_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._targets: dict[str, PushTarget] = {}
        self._records: list[PushRecord] = []
        self._last_create_time: dict[tuple[str, str, str], int] = {}
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()

    def set_target(self, appid: str, target: PushTarget | None) -> None:
        with self._lock:
            if target is None:
                self._targets.pop(appid, None)
            else:
                self._targets[appid] = target

    def has_target(self, appid: str) -> bool:
        with self._lock:
            return appid in self._targets

    def push(self, appid: str, name: str, openid: str, items: Sequence[Item]) -> int | None:
        """Push an event in the background; its push id, or None when the app has no target."""
        with self._lock:
            target = self._targets.get(appid)
            if target is None or not items:
                return None
            event = Event(name, openid, self._create_time(appid, openid, name), tuple(items))
            record = self._new_record(appid, event, target, repeat_of=None)
        self._start(record)
        return record.push_id

    def repeat(self, push_id: object) -> int:
        """Push an earlier event again, same CreateTime: a retry whose first answer was lost."""
        with self._lock:
            original = next((r for r in self._records if r.push_id == push_id), None)
            if original is None or isinstance(push_id, bool):
                raise ValueError(f"no push with push_id {push_id!r}")
            target = self._targets.get(original.appid, original.target)
            record = self._new_record(original.appid, original.event, target, original.push_id)
        self._start(record)
        return record.push_id

    def records(self) -> list[Json]:
        with self._lock:
            return [record.to_json() for record in self._records]

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every push has been answered or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def stop(self) -> None:
        """Give up the retries still waiting, and wait for the attempts under way."""
        self._stopping.set()
        self.wait_idle(self._timeout_s + 1)
        self._stopping.clear()

    def _create_time(self, appid: str, openid: str, name: str) -> int:
        # One second apart at least: submsg takes the same user, CreateTime and Event for a retry.
        key = (appid, openid, name)
        create_time = max(int(time.time()), self._last_create_time.get(key, 0) + 1)
        self._last_create_time[key] = create_time
        return create_time

    def _new_record(
        self, appid: str, event: Event, target: PushTarget, repeat_of: int | None
    ) -> PushRecord:
        payload = render(event, original_id(appid), target.fmt).decode("utf-8")
        record = PushRecord(len(self._records) + 1, appid, event, target, payload, repeat_of)
        self._records.append(record)
        return record

    def _start(self, record: PushRecord) -> None:
        thread = threading.Thread(
            target=self._deliver, args=(record,), name=f"sandbox-push-{record.push_id}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _deliver(self, record: PushRecord) -> None:
        try:
            for attempt in range(1 + MAX_RETRIES):
                if attempt and self._stopping.wait(self._retry_delay_s):
                    break
                outcome = _post(record.target, self._signed(record), self._timeout_s)
                with self._lock:
                    record.attempts.append(outcome)
                if outcome.delivered:
                    with self._lock:
                        record.state = "delivered"
                    return
            with self._lock:
                record.state = "failed"
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    @staticmethod
    def _signed(record: PushRecord) -> SignedPush:
        """Signed again for each attempt, with the time of that attempt."""
        return signed_push(
            record.target,
            record.appid,
            original_id(record.appid),
            record.payload.encode("utf-8"),
            timestamp=str(int(time.time())),
            nonce=str(secrets.randbelow(10**10)),
        )


def render_pushes(records: Sequence[Json]) -> str:
    """The page's table of pushes, newest first."""
    rows = "".join(_push_row(record) for record in reversed(records))
    return f"""<h1>Pushes to callbacks ({len(records)}), newest first</h1>
<table><tr><th>push</th><th>event</th><th>appid</th><th>openid</th><th>mode</th><th>state</th>
<th>answers</th><th>payload</th></tr>{rows}</table>
"""


def _push_row(record: Json) -> str:
    attempts = cast(list[Json], record["attempts"])
    answers = "\n".join(f"{a['status'] or '-'} {a['answer']}" for a in attempts)
    repeat = f" (repeats {record['repeat_of']})" if record["repeat_of"] else ""
    cells = [
        f"{record['push_id']}{repeat}",
        record["event"],
        record["appid"],
        record["openid"],
        f"{record['mode']} {record['format']}",
        record["state"],
        answers,
        record["payload"],
    ]
    return "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>"
