"""WeChat push-callback codec (docs/api.md#wechat-callback): signatures, safe-mode AES envelope,
event parsing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import struct
import xml.etree.ElementTree as ET  # the parse error and element types; parsing is defusedxml's
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from chalicelib.domain.errors import CallbackRefused, InvalidJson

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

MAX_BODY_BYTES = 64 * 1024
MAX_AGE_S = 300
PAD_BLOCK = 32
_UNSIGNED = re.compile(r"[0-9]{1,20}")
_SIGNED = re.compile(r"-?[0-9]{1,20}")
_CONTAINERS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}


@dataclass(frozen=True)
class EventItem:
    template_id: str
    status: str | None = None
    popup_scene: str | None = None
    msg_id: int | None = None
    error_code: int | None = None
    error_status: str | None = None


@dataclass(frozen=True)
class CallbackEvent:
    event: str
    openid: str
    create_time: int
    items: tuple[EventItem, ...]

    @property
    def dedupe_key(self) -> str:
        return f"{self.openid}:{self.create_time}:{self.event}"


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    return _sha1_of_sorted([token, timestamp, nonce])


def msg_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return _sha1_of_sorted([token, timestamp, nonce, encrypted])


def verify_url(
    token: str,
    timestamp: str,
    nonce: str,
    signature: str,
    now: datetime,
    max_age_s: int = MAX_AGE_S,
) -> None:
    _check_signature(url_signature(token, timestamp, nonce), signature)
    _check_timestamp(timestamp, now, max_age_s)


def encrypt(
    plaintext: bytes, encoding_aes_key: str, appid: str, random16: bytes | None = None
) -> str:
    prefix = os.urandom(16) if random16 is None else random16
    if len(prefix) != 16:
        raise ValueError("random16 must be 16 bytes")
    message = prefix + struct.pack(">I", len(plaintext)) + plaintext + appid.encode()
    pad = PAD_BLOCK - len(message) % PAD_BLOCK
    encryptor = _cipher(encoding_aes_key).encryptor()
    ciphertext = encryptor.update(message + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt(encrypted_b64: str, encoding_aes_key: str, appid: str) -> bytes:
    try:
        ciphertext = base64.b64decode(encrypted_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CallbackRefused("Encrypt is not valid base64") from exc
    if not ciphertext or len(ciphertext) % 16:
        raise CallbackRefused("Encrypt has an invalid length")
    decryptor = _cipher(encoding_aes_key).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= PAD_BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise CallbackRefused("Encrypt has invalid padding")
    message = padded[:-pad]
    if len(message) < 20:
        raise CallbackRefused("Encrypt is too short")
    (length,) = struct.unpack(">I", message[16:20])
    if length > len(message) - 20:
        raise CallbackRefused("Encrypt declares a length longer than its content")
    if not hmac.compare_digest(message[20 + length :], appid.encode()):
        raise CallbackRefused("Encrypt was made for another appid")
    return message[20 : 20 + length]


def parse_event(body: bytes, fmt: str) -> CallbackEvent:
    fields = _load_fields(body, fmt)
    event = _text(fields, "Event")
    container = _CONTAINERS.get(event)
    # XML nests the items in the event's container; WeChat's JSON puts ``List`` at the top.
    raw_items = _list_items(fields.get(container, fields)) if container else []
    return CallbackEvent(
        event=event,
        openid=_text(fields, "FromUserName"),
        create_time=_integer(fields, "CreateTime", _UNSIGNED),
        items=tuple(_event_item(raw) for raw in raw_items),
    )


def open_envelope(
    body: bytes,
    fmt: str,
    *,
    token: str,
    encoding_aes_key: str,
    appid: str,
    timestamp: str,
    nonce: str,
    msg_signature: str,
    now: datetime,
) -> CallbackEvent:
    encrypted = _text(_load_fields(body, fmt), "Encrypt")
    _check_signature(_sha1_of_sorted([token, timestamp, nonce, encrypted]), msg_signature)
    _check_timestamp(timestamp, now, MAX_AGE_S)
    return parse_event(decrypt(encrypted, encoding_aes_key, appid), fmt)


def _sha1_of_sorted(parts: list[str]) -> str:
    # WeChat's callback protocol signs with SHA-1; submsg cannot choose another hash.
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # nosec B324


def _check_signature(expected: str, received: str) -> None:
    if not hmac.compare_digest(expected.encode(), received.encode()):
        raise CallbackRefused("signature does not match")


def _check_timestamp(timestamp: str, now: datetime, max_age_s: int) -> None:
    if not _UNSIGNED.fullmatch(timestamp):
        raise CallbackRefused("timestamp is not a number of seconds")
    if abs(now.timestamp() - int(timestamp)) > max_age_s:
        raise CallbackRefused(f"timestamp is more than {max_age_s} s away from now")


def _cipher(encoding_aes_key: str) -> Cipher[modes.CBC]:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("EncodingAESKey must be 43 base64 characters") from exc
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise ValueError("EncodingAESKey must be 43 base64 characters")
    # Imported here: only safe-mode callbacks need it, and every cold start would pay for it.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def _load_fields(body: bytes, fmt: str) -> Mapping[str, object]:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidJson(f"callback body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson("callback body is not UTF-8") from exc
    if fmt == "xml":
        return _xml_fields(text)
    if fmt == "json":
        return _json_fields(text)
    raise ValueError(f"unknown callback format {fmt!r}")


def _json_fields(text: str) -> Mapping[str, object]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidJson("callback body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidJson("callback body must be a JSON object")
    return value


def _xml_fields(text: str) -> Mapping[str, object]:
    """Flatten <xml> to the JSON shape: leaves become text, containers become {"List": [...]}."""
    try:
        root = safe_xml.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as exc:  # a DOCTYPE, entities, external references
        raise InvalidJson("callback XML must not declare a DOCTYPE or entities") from exc
    except ET.ParseError as exc:
        raise InvalidJson("callback body is not valid XML") from exc
    if root.tag != "xml":
        raise InvalidJson("callback XML root must be <xml>")
    fields: dict[str, object] = {}
    for child in root:
        if len(child):
            fields[child.tag] = {
                "List": [_xml_leaves(item) for item in child if item.tag == "List"]
            }
        else:
            fields[child.tag] = (child.text or "").strip()
    return fields


def _xml_leaves(element: ET.Element) -> dict[str, object]:
    return {leaf.tag: (leaf.text or "").strip() for leaf in element}


def _list_items(container: object) -> list[Mapping[str, object]]:
    raw = container.get("List") if isinstance(container, dict) else None
    items = [raw] if isinstance(raw, dict) else raw
    if not items or not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidJson("event List must be an object or a non-empty array of objects")
    return items


def _event_item(raw: Mapping[str, object]) -> EventItem:
    return EventItem(
        template_id=_text(raw, "TemplateId"),
        status=_optional_text(raw, "SubscribeStatusString"),
        popup_scene=_optional_text(raw, "PopupScene", numbers_allowed=True),
        msg_id=_integer(raw, "MsgID", _UNSIGNED) if "MsgID" in raw else None,
        error_code=_integer(raw, "ErrorCode", _SIGNED) if "ErrorCode" in raw else None,
        error_status=_optional_text(raw, "ErrorStatus"),
    )


def _text(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidJson(f"{name} must be a non-empty string")
    return value


def _optional_text(
    fields: Mapping[str, object], name: str, numbers_allowed: bool = False
) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    if numbers_allowed and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidJson(f"{name} must be a string")


def _integer(fields: Mapping[str, object], name: str, pattern: re.Pattern[str]) -> int:
    value = fields.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidJson(f"{name} must be an integer")
    return int(value)
