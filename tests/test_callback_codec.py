from __future__ import annotations

import base64
import hashlib
import json
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters import callback_codec
from chalicelib.adapters.callback_codec import (
    CallbackEvent,
    EventItem,
    decrypt,
    encrypt,
    msg_signature,
    open_envelope,
    parse_event,
    url_signature,
    verify_url,
)
from chalicelib.domain.errors import CallbackRefused, InvalidJson

TOKEN = "made-up-token"
APPID = "wx0000000000000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NONCE = "1320562132"
NOW_S = 1_767_225_600
NOW = datetime.fromtimestamp(NOW_S, UTC)
OPENID = "oOPENID0000000000000000001"


def sha1_hex_of_sorted(*parts: str) -> str:
    digest = hashlib.new("sha1")
    for part in sorted(parts):
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def raw_aes(key_text: str) -> Cipher[modes.CBC]:
    key = base64.b64decode(key_text + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt_raw_blocks(padded: bytes) -> str:
    encryptor = raw_aes(AES_KEY).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt_raw_blocks(encrypted_b64: str) -> bytes:
    decryptor = raw_aes(AES_KEY).decryptor()
    return decryptor.update(base64.b64decode(encrypted_b64)) + decryptor.finalize()


def wechat_layout(message: bytes, appid: str = APPID, declared: int | None = None) -> bytes:
    length = len(message) if declared is None else declared
    return b"R" * 16 + struct.pack(">I", length) + message + appid.encode()


def pad_to_32(data: bytes) -> bytes:
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


POPUP_XML = f"""<xml>
  <ToUserName><![CDATA[gh_000000000001]]></ToUserName>
  <FromUserName><![CDATA[{OPENID}]]></FromUserName>
  <CreateTime>1767225600</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe_msg_popup_event]]></Event>
  <SubscribeMsgPopupEvent>
    <List>
      <TemplateId><![CDATA[tmpl-accepted]]></TemplateId>
      <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>
      <PopupScene>2</PopupScene>
    </List>
    <List>
      <TemplateId><![CDATA[tmpl-rejected]]></TemplateId>
      <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
      <PopupScene>2</PopupScene>
    </List>
  </SubscribeMsgPopupEvent>
</xml>""".encode()

CHANGE_XML = f"""<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName>
<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1767225601</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_change_event]]></Event>
<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[tmpl-switched-off]]></TemplateId>
<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List>
</SubscribeMsgChangeEvent></xml>""".encode()

SENT_XML = f"""<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName>
<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1767225602</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event>
<SubscribeMsgSentEvent><List><TemplateId><![CDATA[tmpl-delivered]]></TemplateId>
<MsgID>1700827132819554304</MsgID><ErrorCode>43101</ErrorCode>
<ErrorStatus><![CDATA[failed: user refuse to accept the msg]]></ErrorStatus></List>
</SubscribeMsgSentEvent></xml>""".encode()


def event_json(event: str, items: object, create_time: object = NOW_S) -> bytes:
    """An event as WeChat pushes it in JSON: ``List`` at the top, beside ``Event``."""
    return json.dumps(
        {
            "ToUserName": "gh_000000000001",
            "FromUserName": OPENID,
            "CreateTime": create_time,
            "MsgType": "event",
            "Event": event,
            "List": items,
        }
    ).encode()


def sealed(plaintext: bytes, fmt: str, appid: str = APPID) -> tuple[bytes, str]:
    encrypted = encrypt(plaintext, AES_KEY, appid)
    if fmt == "xml":
        body = f"<xml><ToUserName>gh_1</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return body.encode(), encrypted
    return json.dumps({"ToUserName": "gh_1", "Encrypt": encrypted}).encode(), encrypted


def open_sealed(body: bytes, fmt: str, signature: str, timestamp: str = str(NOW_S)):
    return open_envelope(
        body,
        fmt,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        appid=APPID,
        timestamp=timestamp,
        nonce=NONCE,
        msg_signature=signature,
        now=NOW,
    )


def test_url_signature_is_the_sha1_of_the_sorted_concatenation() -> None:
    assert url_signature(TOKEN, "1409304348", "xxxxxx") == sha1_hex_of_sorted(
        TOKEN, "1409304348", "xxxxxx"
    )


def test_url_signature_changes_when_any_part_changes() -> None:
    base = url_signature(TOKEN, "1409304348", "xxxxxx")
    assert url_signature(TOKEN, "1409304349", "xxxxxx") != base
    assert url_signature("other-token", "1409304348", "xxxxxx") != base


def test_msg_signature_covers_the_encrypted_field() -> None:
    expected = sha1_hex_of_sorted(TOKEN, "1409304348", NONCE, "c2VjcmV0")
    assert msg_signature(TOKEN, "1409304348", NONCE, "c2VjcmV0") == expected
    assert msg_signature(TOKEN, "1409304348", NONCE, "c2VjcmV1") != expected


@pytest.mark.parametrize("age_s", [0, 300, -300])
def test_verify_url_accepts_a_matching_signature_within_five_minutes(age_s: int) -> None:
    timestamp = str(NOW_S - age_s)
    signature = sha1_hex_of_sorted(TOKEN, timestamp, NONCE)
    verify_url(TOKEN, timestamp, NONCE, signature, NOW)


def test_verify_url_refuses_a_wrong_signature() -> None:
    timestamp = str(NOW_S)
    signature = sha1_hex_of_sorted("other-token", timestamp, NONCE)
    with pytest.raises(CallbackRefused, match="signature"):
        verify_url(TOKEN, timestamp, NONCE, signature, NOW)


def test_verify_url_refuses_a_non_ascii_signature_without_crashing() -> None:
    with pytest.raises(CallbackRefused):
        verify_url(TOKEN, str(NOW_S), NONCE, "签名", NOW)


@pytest.mark.parametrize("age_s", [301, -301, 86_400])
def test_verify_url_refuses_timestamps_more_than_five_minutes_away(age_s: int) -> None:
    timestamp = str(NOW_S - age_s)
    signature = sha1_hex_of_sorted(TOKEN, timestamp, NONCE)
    with pytest.raises(CallbackRefused, match="timestamp"):
        verify_url(TOKEN, timestamp, NONCE, signature, NOW)


@pytest.mark.parametrize("timestamp", ["", "abc", "1_767_225_600", " 1767225600", "-5", "１２"])
def test_verify_url_refuses_an_unparsable_timestamp(timestamp: str) -> None:
    signature = sha1_hex_of_sorted(TOKEN, timestamp, NONCE)
    with pytest.raises(CallbackRefused, match="timestamp"):
        verify_url(TOKEN, timestamp, NONCE, signature, NOW)


@pytest.mark.parametrize("size", [0, 1, 11, 12, 44, 1000])
def test_encrypt_then_decrypt_returns_the_plaintext(size: int) -> None:
    plaintext = bytes(range(256)) * 4
    assert decrypt(encrypt(plaintext[:size], AES_KEY, APPID), AES_KEY, APPID) == plaintext[:size]


@pytest.mark.parametrize("size", [0, 12, 13, 100])
def test_encrypt_follows_the_wechat_layout_padded_to_32_byte_blocks(size: int) -> None:
    message = b"m" * size
    padded = decrypt_raw_blocks(encrypt(message, AES_KEY, APPID, random16=b"R" * 16))
    assert len(padded) % 32 == 0
    assert padded == pad_to_32(wechat_layout(message))


def test_encrypt_draws_a_fresh_random_prefix_each_time() -> None:
    assert encrypt(b"same", AES_KEY, APPID) != encrypt(b"same", AES_KEY, APPID)


def test_decrypt_reads_a_ciphertext_built_by_hand() -> None:
    encrypted = encrypt_raw_blocks(pad_to_32(wechat_layout(b"<xml>hello</xml>")))
    assert decrypt(encrypted, AES_KEY, APPID) == b"<xml>hello</xml>"


def test_decrypt_refuses_a_message_for_another_appid() -> None:
    encrypted = encrypt(b"hello", AES_KEY, "wx0000000000000002")
    with pytest.raises(CallbackRefused, match="appid"):
        decrypt(encrypted, AES_KEY, APPID)


def test_decrypt_refuses_a_tampered_final_block() -> None:
    raw = bytearray(base64.b64decode(encrypt(b"hello world", AES_KEY, APPID, b"R" * 16)))
    raw[-1] ^= 0x01
    with pytest.raises(CallbackRefused):
        decrypt(base64.b64encode(bytes(raw)).decode(), AES_KEY, APPID)


def test_decrypt_refuses_a_ciphertext_under_another_key() -> None:
    other_key = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
    with pytest.raises(CallbackRefused):
        decrypt(encrypt(b"hello", other_key, APPID, b"R" * 16), AES_KEY, APPID)


@pytest.mark.parametrize("pad_byte_values", [[0], [33], [3, 3, 2], [40] * 40])
def test_decrypt_refuses_bad_padding(pad_byte_values: list[int]) -> None:
    body = wechat_layout(b"hello")
    filler = (-len(body) - len(pad_byte_values)) % 32
    encrypted = encrypt_raw_blocks(body + b"x" * filler + bytes(pad_byte_values))
    with pytest.raises(CallbackRefused, match="padding"):
        decrypt(encrypted, AES_KEY, APPID)


def test_decrypt_refuses_a_declared_length_longer_than_the_content() -> None:
    encrypted = encrypt_raw_blocks(pad_to_32(wechat_layout(b"hello", declared=10_000)))
    with pytest.raises(CallbackRefused, match="length"):
        decrypt(encrypted, AES_KEY, APPID)


def test_decrypt_refuses_content_shorter_than_the_prefix_and_length() -> None:
    with pytest.raises(CallbackRefused, match="short"):
        decrypt(encrypt_raw_blocks(pad_to_32(b"R" * 10)), AES_KEY, APPID)


@pytest.mark.parametrize(
    "encrypted", ["", "not base64!", "AAAA", base64.b64encode(b"x" * 17).decode()]
)
def test_decrypt_refuses_input_that_is_not_whole_aes_blocks_of_base64(encrypted: str) -> None:
    with pytest.raises(CallbackRefused):
        decrypt(encrypted, AES_KEY, APPID)


@pytest.mark.parametrize("key", ["short", AES_KEY + "H", "!" * 43])
def test_a_malformed_encoding_aes_key_is_a_configuration_error(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        encrypt(b"hello", key, APPID)


def test_parses_an_xml_popup_event_with_several_items() -> None:
    event = parse_event(POPUP_XML, "xml")
    assert event == CallbackEvent(
        event="subscribe_msg_popup_event",
        openid=OPENID,
        create_time=1767225600,
        items=(
            EventItem(template_id="tmpl-accepted", status="accept", popup_scene="2"),
            EventItem(template_id="tmpl-rejected", status="reject", popup_scene="2"),
        ),
    )
    assert event.dedupe_key == f"{OPENID}:1767225600:subscribe_msg_popup_event"


def test_parses_an_xml_change_event() -> None:
    event = parse_event(CHANGE_XML, "xml")
    assert event.event == "subscribe_msg_change_event"
    assert event.items == (EventItem(template_id="tmpl-switched-off", status="reject"),)


def test_parses_an_xml_sent_event_with_its_msgid_and_error_code() -> None:
    event = parse_event(SENT_XML, "xml")
    assert event.items == (
        EventItem(
            template_id="tmpl-delivered",
            msg_id=1700827132819554304,
            error_code=43101,
            error_status="failed: user refuse to accept the msg",
        ),
    )


def test_parses_a_json_popup_event_whose_list_is_a_single_object() -> None:
    item = {"TemplateId": "tmpl-a", "SubscribeStatusString": "accept", "PopupScene": "0"}
    body = event_json("subscribe_msg_popup_event", item)
    event = parse_event(body, "json")
    assert event.openid == OPENID and event.create_time == NOW_S
    assert event.items == (EventItem(template_id="tmpl-a", status="accept", popup_scene="0"),)


def test_parses_a_json_popup_event_whose_list_is_an_array_and_scene_a_number() -> None:
    items = [
        {"TemplateId": "tmpl-a", "SubscribeStatusString": "accept", "PopupScene": 1},
        {"TemplateId": "tmpl-b", "SubscribeStatusString": "reject", "PopupScene": 1},
    ]
    event = parse_event(event_json("subscribe_msg_popup_event", items), "json")
    assert [(i.template_id, i.status, i.popup_scene) for i in event.items] == [
        ("tmpl-a", "accept", "1"),
        ("tmpl-b", "reject", "1"),
    ]


def test_parses_a_json_event_whose_list_is_nested_in_its_container_as_in_xml() -> None:
    item = {"TemplateId": "tmpl-a", "SubscribeStatusString": "acceptWithAudio"}
    fields = {"Event": "subscribe_msg_popup_event", "FromUserName": OPENID, "CreateTime": NOW_S}
    body = json.dumps({**fields, "SubscribeMsgPopupEvent": {"List": item}}).encode()
    assert parse_event(body, "json").items == (
        EventItem(template_id="tmpl-a", status="acceptWithAudio"),
    )


def test_parses_a_json_change_event() -> None:
    item = {"TemplateId": "tmpl-a", "SubscribeStatusString": "reject"}
    body = event_json("subscribe_msg_change_event", item)
    assert parse_event(body, "json").items == (EventItem(template_id="tmpl-a", status="reject"),)


@pytest.mark.parametrize(
    ("msg_id", "error_code", "create_time"),
    [(1700827132819554304, 0, NOW_S), ("1700827132819554304", "0", str(NOW_S))],
)
def test_parses_a_json_sent_event_with_numbers_or_numeric_strings(
    msg_id: object, error_code: object, create_time: object
) -> None:
    item = {
        "TemplateId": "tmpl-a",
        "MsgID": msg_id,
        "ErrorCode": error_code,
        "ErrorStatus": "success",
    }
    body = event_json("subscribe_msg_sent_event", [item], create_time)
    event = parse_event(body, "json")
    assert event.create_time == NOW_S
    assert event.items == (
        EventItem(
            template_id="tmpl-a", msg_id=1700827132819554304, error_code=0, error_status="success"
        ),
    )


def test_keeps_a_negative_error_code() -> None:
    item = {"TemplateId": "tmpl-a", "MsgID": "7", "ErrorCode": "-1", "ErrorStatus": "busy"}
    body = event_json("subscribe_msg_sent_event", item)
    assert parse_event(body, "json").items[0].error_code == -1


def test_an_unknown_event_parses_with_no_items() -> None:
    body = json.dumps({"FromUserName": OPENID, "CreateTime": 5, "Event": "user_enter_tempsession"})
    event = parse_event(body.encode(), "json")
    assert (event.event, event.items) == ("user_enter_tempsession", ())


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE xml [<!ENTITY who "someone">]><xml><FromUserName>&who;</FromUserName></xml>',
        b'<!doctype xml SYSTEM "file:///etc/passwd"><xml/>',
    ],
)
def test_refuses_xml_that_declares_a_doctype_or_entities(body: bytes) -> None:
    with pytest.raises(InvalidJson, match=r"DOCTYPE|not valid XML"):  # "doctype" is not XML
        parse_event(body, "xml")


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, b"&lol%d;" % (n - 1) * 10 if n > 1 else b"&lol;" * 10)
        for n in range(1, 10)
    )
    + b"]><xml><Content>&lol9;</Content></xml>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    b"<xml><FromUserName>&secret;</FromUserName></xml>"
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd">'
    b"%remote;]><xml/>"
)


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY], ids=["laughs", "file", "remote"]
)
def test_hostile_xml_is_refused_by_the_parser_itself_before_anything_expands(body: bytes) -> None:
    with pytest.raises(InvalidJson, match="DOCTYPE") as refused:
        parse_event(body, "xml")
    assert "defusedxml" in type(refused.value.__cause__).__module__


def test_a_forbidden_declaration_is_found_however_it_is_written() -> None:
    spaced = (
        b'<!DOCTYPE\n xml [<!ENTITY who "someone">]><xml><FromUserName>&who;</FromUserName></xml>'
    )
    with pytest.raises(InvalidJson, match="DOCTYPE"):
        parse_event(spaced, "xml")


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"<xml><FromUserName>o</FromUserName>", "xml"),
        (b"<root><FromUserName>o</FromUserName></root>", "xml"),
        (POPUP_XML.replace(b"<CreateTime>1767225600", b"<CreateTime>soon"), "xml"),
        (POPUP_XML.replace(b"<List>", b"<Item>").replace(b"</List>", b"</Item>"), "xml"),
        (SENT_XML.replace(b"<MsgID>1700827132819554304", b"<MsgID>-3"), "xml"),
        (b"\xff\xfe<xml/>", "xml"),
        (b"[]", "json"),
        (b"{", "json"),
        (b"[" * 70_000, "json"),
        (b"[" * 60_000, "json"),
        (event_json("subscribe_msg_popup_event", []), "json"),
        (event_json("subscribe_msg_popup_event", ["tmpl-a"]), "json"),
        (
            event_json("subscribe_msg_change_event", {"TemplateId": 3}),
            "json",
        ),
        (event_json("subscribe_msg_popup_event", {}, True), "json"),
        (event_json("subscribe_msg_popup_event", {}, 1.5), "json"),
        (event_json("subscribe_msg_popup_event", {}, "9" * 5000), "json"),
    ],
)
def test_refuses_malformed_events_as_invalid_json(body: bytes, fmt: str) -> None:
    with pytest.raises(InvalidJson):
        parse_event(body, fmt)


def test_refuses_a_body_larger_than_64_kib() -> None:
    body = POPUP_XML.replace(b"</xml>", b" " * 65_536 + b"</xml>")
    with pytest.raises(InvalidJson, match="larger"):
        parse_event(body, "xml")


def assert_parses_or_refuses(body: bytes, fmt: str) -> None:
    try:
        event = parse_event(body, fmt)
    except InvalidJson:
        return
    assert event.openid and event.event and event.create_time >= 0


@settings(max_examples=300)
@given(body=st.binary(max_size=2048), fmt=st.sampled_from(["xml", "json"]))
def test_parse_event_raises_only_invalid_json_on_arbitrary_bytes(body: bytes, fmt: str) -> None:
    assert_parses_or_refuses(body, fmt)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "FromUserName",
        "CreateTime",
        "Event",
        "TemplateId",
        "MsgID",
        "ErrorCode",
        "PopupScene",
        "List",
    ]
)
event_names = st.sampled_from([*callback_codec._CONTAINERS, "other"])


@settings(max_examples=300)
@given(
    event=event_names,
    fields=st.dictionaries(field_names, json_values, max_size=4),
    items=st.one_of(json_values, st.lists(st.dictionaries(field_names, json_values), max_size=3)),
)
def test_parse_event_raises_only_invalid_json_on_event_shaped_json(
    event: str, fields: dict[str, object], items: object
) -> None:
    container = callback_codec._CONTAINERS.get(event, "Other")
    body = json.dumps({"Event": event, **fields, container: {"List": items}}).encode()
    assert_parses_or_refuses(body, "json")


@settings(max_examples=300)
@given(
    parts=st.lists(
        st.sampled_from(
            [
                "<xml>",
                "</xml>",
                "<List>",
                "</List>",
                "<SubscribeMsgSentEvent>",
                "</SubscribeMsgSentEvent>",
                "<Event>subscribe_msg_sent_event</Event>",
                "<FromUserName>o</FromUserName>",
                "<CreateTime>1</CreateTime>",
                "<MsgID>",
                "</MsgID>",
                "<TemplateId>t</TemplateId>",
                "<![CDATA[",
                "]]>",
                "&amp;",
                "12",
                "-",
            ]
        ),
        max_size=20,
    )
)
def test_parse_event_raises_only_invalid_json_on_xml_fragments(parts: list[str]) -> None:
    assert_parses_or_refuses("".join(parts).encode(), "xml")


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_open_envelope_decrypts_and_parses_a_signed_event(fmt: str) -> None:
    plaintext = (
        POPUP_XML
        if fmt == "xml"
        else event_json(
            "subscribe_msg_change_event",
            {"TemplateId": "tmpl-a", "SubscribeStatusString": "reject"},
        )
    )
    body, encrypted = sealed(plaintext, fmt)
    event = open_sealed(body, fmt, sha1_hex_of_sorted(TOKEN, str(NOW_S), NONCE, encrypted))
    assert event == parse_event(plaintext, fmt)
    assert event.openid == OPENID


def forbid_decrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> bytes:
        raise AssertionError("decrypt must not run")

    monkeypatch.setattr(callback_codec, "decrypt", fail)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_open_envelope_refuses_a_wrong_msg_signature_before_decrypting(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, encrypted = sealed(POPUP_XML, fmt)
    forbid_decrypt(monkeypatch)
    with pytest.raises(CallbackRefused, match="signature"):
        open_sealed(body, fmt, sha1_hex_of_sorted("other-token", str(NOW_S), NONCE, encrypted))


@pytest.mark.parametrize("age_s", [301, -301])
def test_open_envelope_refuses_a_stale_or_future_timestamp_before_decrypting(
    age_s: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    timestamp = str(NOW_S - age_s)
    body, encrypted = sealed(POPUP_XML, "xml")
    forbid_decrypt(monkeypatch)
    with pytest.raises(CallbackRefused, match="timestamp"):
        open_sealed(body, "xml", sha1_hex_of_sorted(TOKEN, timestamp, NONCE, encrypted), timestamp)


def test_open_envelope_refuses_a_tampered_encrypt_field_signed_for_the_original() -> None:
    body, encrypted = sealed(POPUP_XML, "json")
    tampered = ("B" if encrypted[0] == "A" else "A") + encrypted[1:]
    signature = sha1_hex_of_sorted(TOKEN, str(NOW_S), NONCE, encrypted)
    with pytest.raises(CallbackRefused, match="signature"):
        open_sealed(body.replace(encrypted.encode(), tampered.encode()), "json", signature)


def test_open_envelope_refuses_an_event_sealed_for_another_appid() -> None:
    body, encrypted = sealed(POPUP_XML, "xml", appid="wx0000000000000002")
    with pytest.raises(CallbackRefused, match="appid"):
        open_sealed(body, "xml", sha1_hex_of_sorted(TOKEN, str(NOW_S), NONCE, encrypted))


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"<xml><ToUserName>gh_1</ToUserName></xml>", "xml"),
        (b'{"ToUserName": "gh_1", "Encrypt": 5}', "json"),
        (b'<!DOCTYPE x [<!ENTITY e "AAAA">]><xml><Encrypt>&e;</Encrypt></xml>', "xml"),
    ],
)
def test_open_envelope_refuses_an_envelope_without_a_readable_encrypt_field(
    body: bytes, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_decrypt(monkeypatch)
    with pytest.raises(InvalidJson):
        open_sealed(body, fmt, "0" * 40)
