"""The WeChat sandbox over HTTP: tokens, sends against what each user allowed, taps, templates,
faults, and the server itself. Its rules, crypto, page and pushes have test modules of their own.
"""

import ast
import dataclasses
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

import local.sandbox
from local.sandbox import Sandbox, SandboxTemplate

APPID = "wx0000000000000001"
SECRET = "sandbox-secret-0000000000000001"
OTHER_APPID, OTHER_SECRET = "wx0000000000000002", "sandbox-secret-0000000000000002"
OPENID = "o-sandbox-user-0001"
SHIPPED = SandboxTemplate(
    "tmpl-order-shipped", "订单发货通知", "商品名称:{{thing1.DATA}}\n发货时间:{{time2.DATA}}",
    "one_time",
)  # fmt: skip
ACCOUNT = SandboxTemplate(
    "tmpl-account-alert", "账户提醒", "提醒内容:{{thing1.DATA}}\n处理状态:{{enum_string2.DATA}}",
    "long_term", {"enum_string2": ["待处理", "已完成"]},
)  # fmt: skip
SHIPPED_DATA = {"thing1": {"value": "机械键盘"}, "time2": {"value": "2024-05-01 15:01"}}
SEND = {"touser": OPENID, "template_id": SHIPPED.template_id, "page": "pages/order/index?id=1"}
SEND |= {"data": SHIPPED_DATA, "miniprogram_state": "trial", "lang": "zh_CN"}
ACCOUNT_DATA = {"thing1": {"value": "Password changed"}, "enum_string2": {"value": "已完成"}}


@dataclass
class WeChat:
    """The running sandbox as a mini-program's backend and its users see it."""

    sandbox: Sandbox
    url: str
    # One kept-alive connection, as a backend's HTTP client holds one (the sandbox speaks HTTP/1.1).
    http: requests.Session = dataclasses.field(default_factory=requests.Session)

    def post(self, path: str, body: object, **params: str) -> dict[str, object]:
        answer = self.http.post(f"{self.url}{path}", params=params, json=body, timeout=5)
        assert answer.status_code == 200
        return answer.json()

    def token(self, force_refresh: bool = False, **fields: object) -> dict[str, object]:
        body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
        return self.post(
            "/cgi-bin/stable_token", {**body, "force_refresh": force_refresh, **fields}
        )

    def send_response(self, token: str, **fields: object) -> requests.Response:
        url = f"{self.url}/cgi-bin/message/subscribe/send"
        return self.http.post(url, params={"access_token": token}, json=SEND | fields, timeout=5)

    def send(self, token: str, **fields: object) -> dict[str, object]:
        response = self.send_response(token, **fields)
        assert response.status_code == 200
        return response.json()

    def subscribe(self, results: dict[str, str], openid: str = OPENID) -> dict[str, object]:
        body = {"appid": APPID, "openid": openid, "results": results}
        return self.post("/sandbox/subscribe", body)

    def templates(self, token: str) -> dict[str, object]:
        url = f"{self.url}/wxaapi/newtmpl/gettemplate"
        return requests.get(url, params={"access_token": token}, timeout=5).json()


def new_sandbox(verbose: bool = False, token_ttl_s: float = 7200) -> Sandbox:
    sandbox = Sandbox(verbose=verbose, token_ttl_s=token_ttl_s)
    sandbox.add_app(APPID, SECRET)
    sandbox.add_app(OTHER_APPID, OTHER_SECRET)
    sandbox.add_template(APPID, SHIPPED)
    sandbox.add_template(APPID, ACCOUNT)
    return sandbox


@pytest.fixture
def wechat() -> Iterator[WeChat]:
    sandbox = new_sandbox()
    running = WeChat(sandbox, sandbox.start())
    yield running
    running.http.close()
    sandbox.stop()


@pytest.fixture
def token(wechat: WeChat) -> str:
    return str(wechat.token()["access_token"])


def test_the_sandbox_imports_nothing_from_submsg() -> None:
    """An oracle, not a mirror: only the standard library, third parties and itself."""
    package = Path(local.sandbox.__file__).parent
    imported = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                imported |= {module, *(f"{module}.{alias.name}" for alias in node.names)}

    assert (
        "local.sandbox.rules" in imported and "cryptography.hazmat.primitives.ciphers" in imported
    )
    ours = {name for name in imported if name.split(".")[0] in ("chalicelib", "app", "local", "")}
    assert {name for name in ours if not name.startswith("local.sandbox")} == set()


# Tokens ---------------------------------------------------------------------------------------


def test_the_stable_token_is_shared_until_a_forced_refresh_replaces_it(wechat: WeChat) -> None:
    first, second = wechat.token(), wechat.token()
    old = str(first["access_token"])
    new = str(wechat.token(force_refresh=True)["access_token"])
    wechat.subscribe({SHIPPED.template_id: "accept"})

    assert second["access_token"] == old != new
    assert 7190 <= int(str(second["expires_in"])) <= 7200
    assert wechat.send(old)["errcode"] == 40001
    assert wechat.send(new)["errcode"] == 0
    assert wechat.token()["access_token"] == new


def test_a_token_call_in_the_last_five_minutes_gets_a_new_token_the_old_one_works_on(
    wechat: WeChat, pinned_clock
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({SHIPPED.template_id: "accept"})
    old = str(wechat.token()["access_token"])
    pinned_clock.shift(7200 - 310)
    assert wechat.token()["access_token"] == old
    pinned_clock.shift(20)

    renewed = wechat.token()

    assert renewed["access_token"] != old
    assert 7190 <= int(str(renewed["expires_in"])) <= 7200
    assert wechat.token()["access_token"] == renewed["access_token"]
    assert wechat.send(old)["errcode"] == 0
    pinned_clock.shift(300)
    assert wechat.send(old)["errcode"] == 42001
    assert wechat.send(str(renewed["access_token"]))["errcode"] == 0


# fmt: off
BAD_CREDENTIALS = [
    ({"grant_type": "password"}, 40002), ({"appid": "wx00000000000000ff"}, 40013),
    ({"secret": "not-the-secret"}, 40125),
]
# fmt: on


@pytest.mark.parametrize(("fields", "errcode"), BAD_CREDENTIALS)
def test_stable_token_refuses_bad_credentials(wechat: WeChat, fields: dict, errcode: int) -> None:
    assert wechat.token(**fields)["errcode"] == errcode


def test_an_expired_token_answers_42001_and_a_new_one_is_issued() -> None:
    sandbox = new_sandbox(token_ttl_s=0.2)
    wechat = WeChat(sandbox, sandbox.start())
    try:
        old = str(wechat.token()["access_token"])
        time.sleep(0.3)

        assert wechat.send(old)["errcode"] == 42001
        assert wechat.token()["access_token"] != old
    finally:
        sandbox.stop()


@pytest.mark.parametrize("path", ["/cgi-bin/message/subscribe/send", "/wxaapi/newtmpl/gettemplate"])
@pytest.mark.parametrize(("token", "errcode"), [("", 41001), ("not-a-token", 40001)])
def test_a_call_without_a_valid_token_is_refused(
    wechat: WeChat, path: str, token: str, errcode: int
) -> None:
    method = "GET" if "gettemplate" in path else "POST"
    url = f"{wechat.url}{path}"
    answer = requests.request(method, url, params={"access_token": token}, timeout=5)

    assert answer.json()["errcode"] == errcode


def test_the_token_of_one_app_does_not_reach_another_apps_templates(wechat: WeChat) -> None:
    other = wechat.token(appid=OTHER_APPID, secret=OTHER_SECRET)["access_token"]

    assert wechat.send(str(other))["errcode"] == 40037


# Send -----------------------------------------------------------------------------------------


def test_send_records_the_card_with_an_increasing_msgid(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({SHIPPED.template_id: "accept"})
    before = time.time()

    first, second = wechat.send(token), wechat.send(token, lang="en_US")

    assert (first["errcode"], first["errmsg"]) == (0, "ok")
    assert int(str(second["msgid"])) > int(str(first["msgid"]))
    card = wechat.sandbox.received()[0]
    assert card == SEND | {
        "received_at": card["received_at"],
        "appid": APPID,
        "msgid": first["msgid"],
    }
    assert before <= float(str(card["received_at"])) <= time.time()
    assert requests.get(f"{wechat.url}/sandbox/messages", timeout=5).json()[1]["lang"] == "en_US"
    card["touser"] = "changed"
    assert wechat.sandbox.received()[0]["touser"] == OPENID  # received() gives copies


def test_messages_since_a_count_leave_out_the_cards_already_read(
    wechat: WeChat, token: str
) -> None:
    for _ in range(3):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    sent = [wechat.send(token)["msgid"] for _ in range(3)]
    url = f"{wechat.url}/sandbox/messages"

    def since(value: str) -> requests.Response:
        return requests.get(url, params={"since": value}, timeout=5)

    assert [card["msgid"] for card in since("1").json()] == sent[1:]
    assert since("3").json() == [] and since("99").json() == []
    for bad in ("-1", "two", "١"):
        assert since(bad).json()["errcode"] == 47001


def test_each_one_time_accept_is_worth_exactly_one_send(wechat: WeChat, token: str) -> None:
    assert wechat.send(token)["errcode"] == 43101
    for _ in range(3):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({SHIPPED.template_id: "reject"})

    results = [wechat.send(token)["errcode"] for _ in range(4)]

    assert results == [0, 0, 0, 43101]
    assert len(wechat.sandbox.received()) == 3


def test_a_long_term_subscription_allows_sends_until_rejected(wechat: WeChat, token: str) -> None:
    account = {"template_id": ACCOUNT.template_id, "data": ACCOUNT_DATA}
    assert wechat.send(token, **account)["errcode"] == 43101

    wechat.subscribe({ACCOUNT.template_id: "accept"})
    assert [wechat.send(token, **account)["errcode"] for _ in range(3)] == [0, 0, 0]

    wechat.subscribe({ACCOUNT.template_id: "reject"})
    assert wechat.send(token, **account)["errcode"] == 43101


def test_bad_keyword_values_answer_47003_naming_every_field(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    data = {"thing1": {"value": "键" * 21}, "time2": "15:01", "thing9": {"value": "x"}}

    answer = wechat.send(token, data=data)

    assert answer["errcode"] == 47003
    assert str(answer["errmsg"]).startswith("argument invalid! data.thing1.value ")
    for field in ("data.time2.value", "data.thing9.value"):
        assert field in str(answer["errmsg"])
    assert wechat.send(token)["errcode"] == 0  # the refused send did not use the subscription


# fmt: off
BAD_SEND_FIELDS = [
    ({"template_id": "tmpl-unknown"}, 40037), ({"template_id": ["tmpl-order-shipped"]}, 40037),
    ({"touser": ""}, 40003), ({"touser": {"id": 1}}, 40003),
    ({"page": "/pages/order/index"}, 41030), ({"page": "https://example.invalid/x"}, 41030),
    ({"page": 7}, 41030), ({"miniprogram_state": "production"}, 47003),
    ({"lang": "fr_FR"}, 47003), ({"data": [1, 2]}, 47003),
]
# fmt: on


@pytest.mark.parametrize(("fields", "errcode"), BAD_SEND_FIELDS)
def test_send_refuses_bad_fields_with_wechat_errcodes(
    wechat: WeChat, token: str, fields: dict[str, object], errcode: int
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})

    assert wechat.send(token, **fields)["errcode"] == errcode
    assert wechat.sandbox.ledger()[0]["one_time_credits"] == 1


# Templates ------------------------------------------------------------------------------------


def test_gettemplate_lists_the_apps_templates_in_wechat_shape(wechat: WeChat, token: str) -> None:
    answer = wechat.templates(token)

    assert (answer["errcode"], answer["errmsg"]) == (0, "ok")
    shipped, account = answer["data"]
    assert shipped == {
        "priTmplId": SHIPPED.template_id,
        "title": SHIPPED.title,
        "content": SHIPPED.content,
        "example": "商品名称:thing1\n发货时间:time2",
        "type": 2,
        "keywordEnumValueList": [],
    }
    assert account["type"] == 3
    assert account["keywordEnumValueList"] == [
        {"keywordCode": "enum_string2", "enumValueList": ["待处理", "已完成"]}
    ]


DELIVERY = {
    "appid": APPID,
    "template_id": "tmpl-delivery",
    "title": "Delivery update",
    "content": "Item:{{thing1.DATA}}\nStatus:{{enum_string2.DATA}}",
    "kind": "one_time",
    "enum_values": {"enum_string2": ["shipped", "delivered"]},
}


def test_the_templates_route_adds_a_template_taps_and_sends_then_know(
    wechat: WeChat, token: str
) -> None:
    assert wechat.post("/sandbox/templates", DELIVERY) == {"errcode": 0, "errmsg": "ok"}
    wechat.subscribe({"tmpl-delivery": "accept"})
    data = {"thing1": {"value": "Blue mug"}, "enum_string2": {"value": "shipped"}}

    assert wechat.send(token, template_id="tmpl-delivery", data=data)["errcode"] == 0
    listed = wechat.post("/sandbox/templates", {**DELIVERY, "title": "Renamed"})
    templates = wechat.templates(token)["data"]
    assert listed["errcode"] == 0
    assert [t["title"] for t in templates if t["priTmplId"] == "tmpl-delivery"] == ["Renamed"]


# fmt: off
BAD_TEMPLATE_CHANGES = [
    {"appid": "wx00000000000000ff"}, {"appid": None}, {"template_id": ""}, {"template_id": 7},
    {"title": None}, {"content": "no placeholder"}, {"content": "Item:{{widget1.DATA}}"},
    {"kind": "forever"}, {"kind": ["one_time"]}, {"enum_values": {}},
    {"enum_values": {"enum_string2": []}},
    {"enum_values": {"enum_string2": ["shipped"], "thing1": ["x"]}},
]
# fmt: on


@pytest.mark.parametrize("change", BAD_TEMPLATE_CHANGES)
def test_the_templates_route_refuses_bad_input_with_47001(wechat: WeChat, change: dict) -> None:
    answer = wechat.post("/sandbox/templates", {**DELIVERY, **change})

    assert answer["errcode"] == 47001
    assert str(answer["errmsg"]).startswith("data format error: ")
    assert wechat.subscribe({"tmpl-delivery": "accept"})["errCode"] == 20001


# Taps -----------------------------------------------------------------------------------------


def test_subscribe_grants_and_answers_like_request_subscribe_message(wechat: WeChat) -> None:
    answer = wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({ACCOUNT.template_id: "accept"}, openid="o-sandbox-user-0002")

    assert answer == {"errMsg": "requestSubscribeMessage:ok", SHIPPED.template_id: "accept"}
    first = {"appid": APPID, "openid": OPENID, "template_id": SHIPPED.template_id}
    second = {"appid": APPID, "openid": "o-sandbox-user-0002", "template_id": ACCOUNT.template_id}
    assert wechat.sandbox.ledger() == [
        {**first, "one_time_credits": 1, "long_term_active": False},
        {**second, "one_time_credits": 0, "long_term_active": True},
    ]


def test_many_users_tap_at_once_as_each_would_alone(wechat: WeChat) -> None:
    openids = [f"o-sandbox-user-{n:04d}" for n in range(3)]
    body = {"appid": APPID, "openids": openids, "results": {SHIPPED.template_id: "accept"}}

    assert wechat.post("/sandbox/subscribe_many", body) == {"taps": 3}
    assert wechat.post("/sandbox/subscribe_many", {**body, "openids": openids[:1]}) == {"taps": 1}

    assert [(row["openid"], row["one_time_credits"]) for row in wechat.sandbox.ledger()] == [
        (openids[0], 2),
        (openids[1], 1),
        (openids[2], 1),
    ]
    refused = wechat.post("/sandbox/subscribe_many", {**body, "results": {"tmpl-unknown": "x"}})
    assert refused["errCode"] == 20001
    assert wechat.post("/sandbox/subscribe_many", {**body, "openids": []})["errcode"] == 47001
    assert len(wechat.sandbox.ledger()) == 3


@pytest.mark.parametrize(
    "allow", ["accept", "acceptWithAudio", "acceptWithAlert", "acceptWithForcePush"]
)
def test_every_kind_of_allow_is_worth_one_send(wechat: WeChat, token: str, allow: str) -> None:
    answer = wechat.subscribe({SHIPPED.template_id: allow})
    wechat.subscribe({ACCOUNT.template_id: allow})

    assert answer == {"errMsg": "requestSubscribeMessage:ok", SHIPPED.template_id: allow}
    assert [row["one_time_credits"] for row in wechat.sandbox.ledger()] == [0, 1]
    assert [row["long_term_active"] for row in wechat.sandbox.ledger()] == [True, False]
    assert [wechat.send(token)["errcode"] for _ in range(2)] == [0, 43101]


# fmt: off
PROMPT_FAILURES = [
    ({}, 10001), ({"tmpl-unknown": "accept"}, 20001),
    ({SHIPPED.template_id: "accept", ACCOUNT.template_id: "accept"}, 20002),
    ({SHIPPED.template_id: "maybe"}, 10004), ({SHIPPED.template_id: ["accept"]}, 10004),
    ({"a": "accept", "b": "accept", "c": "accept", "d": "accept"}, 20003),
]
# fmt: on


@pytest.mark.parametrize(("results", "err_code"), PROMPT_FAILURES)
def test_subscribe_fails_like_request_subscribe_message(
    wechat: WeChat, results: dict[str, str], err_code: int
) -> None:
    answer = wechat.subscribe(results)

    assert answer["errCode"] == err_code
    assert str(answer["errMsg"]).startswith("requestSubscribeMessage:fail")
    assert wechat.sandbox.ledger() == []


def test_switching_off_drops_what_the_user_held_even_without_a_callback(wechat: WeChat) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({ACCOUNT.template_id: "accept"})

    assert wechat.sandbox.switch_off(APPID, OPENID, [SHIPPED.template_id]) is None

    assert [e["template_id"] for e in wechat.sandbox.ledger()] == [ACCOUNT.template_id]
    with pytest.raises(ValueError, match="template_id"):
        wechat.sandbox.switch_off(APPID, OPENID, ["tmpl-unknown"])


# Faults ---------------------------------------------------------------------------------------


def test_injected_errcodes_and_http_statuses_apply_to_exactly_count_sends(
    wechat: WeChat, token: str
) -> None:
    for _ in range(2):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    assert wechat.post("/sandbox/faults", {"errcode": -1, "count": 2})["errcode"] == 0
    wechat.sandbox.inject_faults(http_status=500)

    answers = [wechat.send_response(token) for _ in range(5)]

    assert [(a.status_code, a.json()["errcode"]) for a in answers] == [
        (200, -1), (200, -1), (500, -1), (200, 0), (200, 0)
    ]  # fmt: skip
    assert len(wechat.sandbox.received()) == 2


def test_a_delayed_send_delivers_the_card_even_to_a_caller_that_stopped_waiting(
    wechat: WeChat, token: str
) -> None:
    for _ in range(2):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.sandbox.inject_faults(delay_s=0.5)

    url = f"{wechat.url}/cgi-bin/message/subscribe/send"
    with pytest.raises(requests.ReadTimeout):
        requests.post(url, params={"access_token": token}, json=SEND, timeout=(1, 0.1))
    started = time.monotonic()
    assert wechat.send(token)["errcode"] == 0

    assert time.monotonic() - started < 0.4  # the next send is not delayed
    assert [card["touser"] for card in wechat.sandbox.received()] == [OPENID, OPENID]


# fmt: off
NOT_FAULTS = [
    {}, {"count": 2}, {"errcode": 0}, {"errcode": "45011"}, {"http_status": 200},
    {"delay_s": -1}, {"errcode": -1, "count": 0}, {"errcode": -1, "count": True},
]
# fmt: on


@pytest.mark.parametrize("fault", NOT_FAULTS)
def test_the_faults_route_refuses_a_fault_that_is_not_one(
    wechat: WeChat, token: str, fault: dict[str, object]
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})

    assert wechat.post("/sandbox/faults", fault)["errcode"] == 47001
    assert wechat.send(token)["errcode"] == 0


# The server -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/cgi-bin/stable_token", "/cgi-bin/message/subscribe/send", "/sandbox/subscribe"]
)
@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe\x00", b"[" * 100_000])
def test_bad_json_answers_47001(wechat: WeChat, token: str, path: str, body: bytes) -> None:
    url = f"{wechat.url}{path}"
    response = requests.post(url, params={"access_token": token}, data=body, timeout=5)

    assert response.status_code == 200
    assert response.json() == {"errcode": 47001, "errmsg": "data format error"}


def test_the_page_and_an_unknown_path(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.send(token)

    page = requests.get(f"{wechat.url}/", timeout=5)
    unknown = requests.get(f"{wechat.url}/cgi-bin/token", timeout=5)

    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "订单发货通知" in page.content.decode("utf-8")
    assert (unknown.status_code, unknown.json()["errcode"]) == (404, 40066)


def test_stop_frees_the_port_and_only_loopback_is_served() -> None:
    sandbox = new_sandbox()
    url = sandbox.start()
    port = int(url.rsplit(":", 1)[1])

    sandbox.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


@pytest.mark.parametrize("verbose", [False, True])
def test_prints_one_line_per_request_when_verbose_never_the_token(
    capfd: pytest.CaptureFixture[str], verbose: bool
) -> None:
    sandbox = new_sandbox(verbose=verbose)
    wechat = WeChat(sandbox, sandbox.start())
    try:
        token = str(wechat.token()["access_token"])
        wechat.send(token)
        requests.get(f"{wechat.url}/wxaapi/newtmpl/gettemplate?access_token={token}", timeout=5)
    finally:
        sandbox.stop()

    out, err = capfd.readouterr()
    assert len(out.splitlines()) == (3 if verbose else 0)
    assert err == ""
    assert token not in out and SECRET not in out


SEND_FIELDS = ["touser", "template_id", "page", "data", "miniprogram_state", "lang", "thing1"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def shared_wechat() -> Iterator[WeChat]:
    sandbox = new_sandbox()
    running = WeChat(sandbox, sandbox.start())
    yield running
    running.http.close()
    sandbox.stop()


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.sampled_from(SEND_FIELDS), json_values))
def test_any_json_send_gets_an_errcode_and_the_sandbox_keeps_serving(
    shared_wechat: WeChat, body: dict[str, object]
) -> None:
    token = str(shared_wechat.token()["access_token"])
    url = f"{shared_wechat.url}/cgi-bin/message/subscribe/send"
    response = shared_wechat.http.post(url, params={"access_token": token}, json=body, timeout=5)

    assert response.status_code == 200
    assert isinstance(response.json()["errcode"], int)
    assert shared_wechat.token()["access_token"] == token
