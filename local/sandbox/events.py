"""The subscription events the sandbox pushes, and how WeChat shapes and signs them: XML or
JSON, plain or safe mode (an ``Encrypt`` envelope), signed with the sandbox's own crypto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from local.sandbox import crypto
from local.sandbox.base import ALLOWS, Json

POPUP = "subscribe_msg_popup_event"
CHANGE = "subscribe_msg_change_event"
SENT = "subscribe_msg_sent_event"
CONTAINERS = {
    POPUP: "SubscribeMsgPopupEvent",
    CHANGE: "SubscribeMsgChangeEvent",
    SENT: "SubscribeMsgSentEvent",
}
FORMATS = frozenset({"xml", "json"})

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
    callback_url: str | None, token: str | None, encoding_aes_key: str | None, fmt: str
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
        crypto.aes_key(encoding_aes_key)  # refuses a malformed key now, not at the first push
    return PushTarget(callback_url, token, encoding_aes_key, fmt)


def popup_items(results: Mapping[str, str], popup_scene: str = "0") -> list[Item]:
    """Allows and rejects reach the callback; ban and filter are the client's alone."""
    return [
        {"TemplateId": tid, "SubscribeStatusString": result, "PopupScene": popup_scene}
        for tid, result in results.items()
        if result in ALLOWS or result == "reject"
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


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml(fields: Mapping[str, str]) -> str:
    return "".join(f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items())


def render(event: Event, to_user: str, fmt: str) -> bytes:
    """In JSON, numbers are strings and ``List`` sits at the top (XML nests it in the event's
    container), an object for one item, an array otherwise."""
    container = CONTAINERS[event.name]
    if fmt == "json":
        items = [dict(item) for item in event.items]
        fields: Json = {
            "ToUserName": to_user,
            "FromUserName": event.openid,
            "CreateTime": str(event.create_time),
            "MsgType": "event",
            "Event": event.name,
            "List": items[0] if len(items) == 1 else items,
        }
        return json.dumps(fields, ensure_ascii=False).encode("utf-8")
    head = {"ToUserName": to_user, "FromUserName": event.openid}
    items_xml = "".join(f"<List>{_xml(item)}</List>" for item in event.items)
    return (
        f"<xml>{_xml(head)}<CreateTime>{event.create_time}</CreateTime>"
        f"{_xml({'MsgType': 'event', 'Event': event.name})}"
        f"<{container}>{items_xml}</{container}></xml>"
    ).encode()


@dataclass(frozen=True)
class SignedPush:
    query: dict[str, str]
    body: bytes


def signed_push(
    target: PushTarget, appid: str, payload: bytes, timestamp: str, nonce: str
) -> SignedPush:
    """The query and body of one push of ``payload`` (the rendered event)."""
    query = {"signature": crypto.signature(target.token, timestamp, nonce)}
    query |= {"timestamp": timestamp, "nonce": nonce}
    if target.encoding_aes_key is None:
        return SignedPush(query, payload)
    encrypted = crypto.seal(payload, target.encoding_aes_key, appid)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = crypto.signature(target.token, timestamp, nonce, encrypted)
    envelope = {"ToUserName": original_id(appid), "Encrypt": encrypted}
    if target.fmt == "json":
        return SignedPush(query, json.dumps(envelope).encode())
    return SignedPush(query, f"<xml>{_xml(envelope)}</xml>".encode())
