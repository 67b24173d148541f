"""The sandbox's signatures and safe-mode encryption against submsg's codec, both ways.

The two are written apart. Here one side seals and the other opens, and both meet a vector laid
out by hand in WeChat's layout (a fixed random prefix), so a bug both sides share, which would
pass a round trip through either alone, cannot pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from chalicelib.adapters import callback_codec
from local.sandbox import crypto, events

TOKEN = "made-up-callback-token"
APPID = "wx0000000000000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, made up
PREFIX = bytes(range(16))
# 16 + 4 + 18 (the appid) = 38 bytes around the message: 26 bytes fill two blocks exactly, so
# WeChat's PKCS#7 to 32 bytes adds a whole block of 32 (and a padding to 16 would add 16).
SIZES = [0, 25, 26, 27, 100]


def by_hand(message: bytes, appid: str = APPID) -> str:
    """WeChat's layout written out: prefix, length, message, appid, PKCS#7 to 32, AES-256-CBC."""
    key = base64.b64decode(AES_KEY + "=")
    plain = PREFIX + struct.pack(">I", len(message)) + message + appid.encode()
    pad = 32 - len(plain) % 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    blocks = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(blocks).decode()


def message(size: int) -> bytes:
    return ("事件" * size).encode()[:size]


@pytest.mark.parametrize("size", SIZES)
def test_the_sandbox_seals_exactly_the_vector_laid_out_by_hand_and_both_sides_open_it(
    size: int,
) -> None:
    vector = by_hand(message(size))

    assert crypto.seal(message(size), AES_KEY, APPID, random16=PREFIX) == vector
    assert len(base64.b64decode(vector)) % 32 == 0
    assert callback_codec.decrypt(vector, AES_KEY, APPID) == message(size)
    assert crypto.unseal(vector, AES_KEY, APPID) == message(size)


@pytest.mark.parametrize("size", SIZES)
def test_each_side_opens_what_the_other_seals(size: int) -> None:
    by_sandbox = crypto.seal(message(size), AES_KEY, APPID)
    by_production = callback_codec.encrypt(message(size), AES_KEY, APPID)

    assert callback_codec.decrypt(by_sandbox, AES_KEY, APPID) == message(size)
    assert crypto.unseal(by_production, AES_KEY, APPID) == message(size)


def test_both_sides_sign_with_the_sha1_of_the_sorted_parts() -> None:
    parts = [TOKEN, "1767225600", "1320562132"]
    encrypted = by_hand(b"<xml/>")

    def hand(*texts: str) -> str:
        return hashlib.sha1("".join(sorted(texts)).encode()).hexdigest()

    assert crypto.signature(*parts) == callback_codec.url_signature(*parts) == hand(*parts)
    signed = [crypto.signature(*parts, encrypted), callback_codec.msg_signature(*parts, encrypted)]
    assert signed == [hand(*parts, encrypted)] * 2


def test_the_sandbox_refuses_another_appid_and_a_malformed_key() -> None:
    with pytest.raises(ValueError, match="appid"):
        crypto.unseal(by_hand(b"x", appid="wx0000000000000009"), AES_KEY, APPID)
    for key in ("x", AES_KEY + "H", AES_KEY[:-1] + "!"):
        with pytest.raises(ValueError, match="EncodingAESKey"):
            crypto.seal(b"x", key, APPID)


@pytest.mark.parametrize("fmt", ["xml", "json"])
@pytest.mark.parametrize("key", [None, AES_KEY], ids=["plain", "safe-mode"])
def test_production_opens_a_push_as_the_sandbox_signs_it(fmt: str, key: str | None) -> None:
    items = events.popup_items({"tmpl-a": "acceptWithAudio", "tmpl-b": "reject"})
    event = events.Event(events.POPUP, "oUser0001", 1767225600, tuple(items))
    payload = events.render(event, events.original_id(APPID), fmt)
    target = events.PushTarget("http://127.0.0.1:9/callback", TOKEN, key, fmt)

    push = events.signed_push(target, APPID, payload, "1767225601", "1320562132")

    query, now = push.query, datetime.fromtimestamp(1767225601, UTC)
    callback_codec.verify_url(TOKEN, query["timestamp"], query["nonce"], query["signature"], now)
    if key is None:
        opened = callback_codec.parse_event(push.body, fmt)
    else:
        assert query["encrypt_type"] == "aes"
        assert b"oUser0001" not in push.body
        opened = callback_codec.open_envelope(
            push.body,
            fmt,
            token=TOKEN,
            encoding_aes_key=key,
            appid=APPID,
            timestamp=query["timestamp"],
            nonce=query["nonce"],
            msg_signature=query["msg_signature"],
            now=now,
        )
    assert (opened.event, opened.openid, opened.create_time) == (
        events.POPUP,
        "oUser0001",
        event.create_time,
    )
    assert [(i.template_id, i.status) for i in opened.items] == [
        ("tmpl-a", "acceptWithAudio"),
        ("tmpl-b", "reject"),
    ]
    if fmt == "json" and key is not None:
        assert set(json.loads(push.body)) == {"ToUserName", "Encrypt"}


def test_in_json_numbers_are_strings_and_a_top_level_list_of_one_item_is_an_object() -> None:
    def event(*template_ids: str) -> events.Event:
        items = events.popup_items(dict.fromkeys(template_ids, "accept"))
        return events.Event(events.POPUP, "oUser0001", 1767225600, tuple(items))

    one, two = (json.loads(events.render(event(*ids), "gh_1", "json")) for ids in (["a"], "ab"))

    assert isinstance(one["List"], dict)
    assert len(two["List"]) == 2
    assert "SubscribeMsgPopupEvent" not in one
    assert one["CreateTime"] == "1767225600"
    assert len(callback_codec.parse_event(json.dumps(one).encode(), "json").items) == 1
