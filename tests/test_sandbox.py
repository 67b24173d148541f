import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.wechat import Outcome, WeChatClient, WeChatConfig, clear_token_cache
from local.sandbox import Sandbox, SandboxTemplate

APPID = "wx0000000000000001"
SECRET = "sandbox-secret-0000000000000001"
OTHER_APPID = "wx0000000000000002"
OPENID = "o-sandbox-user-0001"
SHIPPED = SandboxTemplate(
    template_id="tmpl-order-shipped",
    title="订单发货通知",
    content="商品名称:{{thing1.DATA}}\n发货时间:{{time2.DATA}}",
    kind="one_time",
)
ACCOUNT = SandboxTemplate(
    template_id="tmpl-account-alert",
    title="账户提醒",
    content="提醒内容:{{thing1.DATA}}\n处理状态:{{enum_string2.DATA}}",
    kind="long_term",
    enum_values={"enum_string2": ["待处理", "已完成"]},
)
SHIPPED_DATA = {"thing1": {"value": "机械键盘"}, "time2": {"value": "2024-05-01 15:01"}}
ACCOUNT_DATA = {"thing1": {"value": "Password changed"}, "enum_string2": {"value": "已完成"}}


@dataclass
class WeChat:
    """The running sandbox as a mini-program's backend and its users see it."""

    sandbox: Sandbox
    url: str

    def token(self, force_refresh: bool = False, secret: str = SECRET) -> dict[str, object]:
        request = {
            "grant_type": "client_credential",
            "appid": APPID,
            "secret": secret,
            "force_refresh": force_refresh,
        }
        return requests.post(f"{self.url}/cgi-bin/stable_token", json=request, timeout=5).json()

    def send_response(self, token: str, **fields: object) -> requests.Response:
        body = {
            "touser": OPENID,
            "template_id": SHIPPED.template_id,
            "page": "pages/order/index?id=1",
            "data": SHIPPED_DATA,
            "miniprogram_state": "trial",
            "lang": "zh_CN",
            **fields,
        }
        url = f"{self.url}/cgi-bin/message/subscribe/send"
        return requests.post(url, params={"access_token": token}, json=body, timeout=5)

    def send(self, token: str, **fields: object) -> dict[str, object]:
        response = self.send_response(token, **fields)
        assert response.status_code == 200
        return response.json()

    def subscribe(self, results: dict[str, str], openid: str = OPENID) -> dict[str, object]:
        request = {"appid": APPID, "openid": openid, "results": results}
        return requests.post(f"{self.url}/sandbox/subscribe", json=request, timeout=5).json()


def new_sandbox(verbose: bool = False, token_ttl_s: float = 7200) -> Sandbox:
    sandbox = Sandbox(verbose=verbose, token_ttl_s=token_ttl_s)
    sandbox.add_app(APPID, SECRET)
    sandbox.add_app(OTHER_APPID, "sandbox-secret-0000000000000002")
    sandbox.add_template(APPID, SHIPPED)
    sandbox.add_template(APPID, ACCOUNT)
    return sandbox


@pytest.fixture
def wechat() -> Iterator[WeChat]:
    sandbox = new_sandbox()
    url = sandbox.start()
    yield WeChat(sandbox, url)
    sandbox.stop()


@pytest.fixture
def token(wechat: WeChat) -> str:
    return str(wechat.token()["access_token"])


def test_stable_token_is_the_same_for_every_caller_while_valid(wechat: WeChat) -> None:
    first, second = wechat.token(), wechat.token()

    assert first["access_token"] == second["access_token"]
    assert 7190 <= int(str(second["expires_in"])) <= 7200


def test_force_refresh_issues_a_new_token_and_invalidates_the_old_one(wechat: WeChat) -> None:
    old = str(wechat.token()["access_token"])
    new = str(wechat.token(force_refresh=True)["access_token"])
    wechat.subscribe({SHIPPED.template_id: "accept"})

    assert new != old
    assert wechat.send(old)["errcode"] == 40001
    assert wechat.send(new)["errcode"] == 0
    assert wechat.token()["access_token"] == new


def test_stable_token_refuses_an_unknown_appid_and_a_wrong_secret(wechat: WeChat) -> None:
    unknown = {"grant_type": "client_credential", "appid": "wx00000000000000ff", "secret": "x"}
    answer = requests.post(f"{wechat.url}/cgi-bin/stable_token", json=unknown, timeout=5).json()

    assert answer["errcode"] == 40013
    assert wechat.token(secret="not-the-secret")["errcode"] == 40125


def test_send_records_the_card_with_an_increasing_msgid(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({SHIPPED.template_id: "accept"})
    before = time.time()

    first, second = wechat.send(token), wechat.send(token, lang="en_US")

    assert (first["errcode"], first["errmsg"]) == (0, "ok")
    assert int(str(second["msgid"])) > int(str(first["msgid"]))
    card = wechat.sandbox.received()[0]
    assert card["msgid"] == first["msgid"]
    assert card["appid"] == APPID
    assert card["touser"] == OPENID
    assert card["template_id"] == SHIPPED.template_id
    assert card["page"] == "pages/order/index?id=1"
    assert card["data"] == SHIPPED_DATA
    assert (card["miniprogram_state"], card["lang"]) == ("trial", "zh_CN")
    assert before <= float(str(card["received_at"])) <= time.time()
    assert requests.get(f"{wechat.url}/sandbox/messages", timeout=5).json()[1]["lang"] == "en_US"


def test_received_returns_copies(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.send(token)

    wechat.sandbox.received()[0]["touser"] = "changed"

    assert wechat.sandbox.received()[0]["touser"] == OPENID


def test_send_without_any_subscription_answers_43101(wechat: WeChat, token: str) -> None:
    assert wechat.send(token)["errcode"] == 43101
    assert wechat.sandbox.received() == []


def test_one_time_subscription_is_worth_exactly_one_send(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})

    assert wechat.send(token)["errcode"] == 0
    assert wechat.send(token)["errcode"] == 43101
    assert len(wechat.sandbox.received()) == 1


def test_one_time_subscriptions_accumulate(wechat: WeChat, token: str) -> None:
    for _ in range(3):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({SHIPPED.template_id: "reject"})

    results = [wechat.send(token)["errcode"] for _ in range(4)]

    assert results == [0, 0, 0, 43101]


def test_long_term_subscription_allows_sends_until_rejected(wechat: WeChat, token: str) -> None:
    account = {"template_id": ACCOUNT.template_id, "data": ACCOUNT_DATA}
    assert wechat.send(token, **account)["errcode"] == 43101

    wechat.subscribe({ACCOUNT.template_id: "accept"})
    assert [wechat.send(token, **account)["errcode"] for _ in range(3)] == [0, 0, 0]

    wechat.subscribe({ACCOUNT.template_id: "reject"})
    assert wechat.send(token, **account)["errcode"] == 43101


def test_thing_longer_than_20_characters_answers_47003_naming_the_field(
    wechat: WeChat, token: str
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    data = {**SHIPPED_DATA, "thing1": {"value": "键" * 21}}

    answer = wechat.send(token, data=data)

    assert answer["errcode"] == 47003
    assert str(answer["errmsg"]).startswith("argument invalid! data.thing1.value")
    assert wechat.send(token)["errcode"] == 0  # the refused send did not use the subscription


def test_every_bad_keyword_is_named(wechat: WeChat, token: str) -> None:
    data = {"thing1": {"value": ""}, "time2": "15:01", "thing9": {"value": "x"}}

    errmsg = str(wechat.send(token, data=data)["errmsg"])

    for field in ("data.thing1.value", "data.time2.value", "data.thing9.value"):
        assert field in errmsg


def test_unknown_enum_value_answers_47003(wechat: WeChat, token: str) -> None:
    wechat.subscribe({ACCOUNT.template_id: "accept"})
    data = {**ACCOUNT_DATA, "enum_string2": {"value": "已取消"}}

    answer = wechat.send(token, template_id=ACCOUNT.template_id, data=data)

    assert answer["errcode"] == 47003
    assert "data.enum_string2.value" in str(answer["errmsg"])


def test_bad_token_answers_40001(wechat: WeChat) -> None:
    assert wechat.send("not-a-token")["errcode"] == 40001
    assert wechat.send("")["errcode"] == 41001


def test_expired_token_answers_42001_and_a_new_one_is_issued() -> None:
    sandbox = new_sandbox(token_ttl_s=0.2)
    wechat = WeChat(sandbox, sandbox.start())
    try:
        old = str(wechat.token()["access_token"])
        time.sleep(0.3)

        assert wechat.send(old)["errcode"] == 42001
        assert wechat.token()["access_token"] != old
    finally:
        sandbox.stop()


def test_token_of_one_app_does_not_reach_another_apps_templates(wechat: WeChat) -> None:
    request = {
        "grant_type": "client_credential",
        "appid": OTHER_APPID,
        "secret": "sandbox-secret-0000000000000002",
    }
    answer = requests.post(f"{wechat.url}/cgi-bin/stable_token", json=request, timeout=5).json()

    assert wechat.send(answer["access_token"])["errcode"] == 40037


@pytest.mark.parametrize(
    ("fields", "errcode"),
    [
        ({"template_id": "tmpl-unknown"}, 40037),
        ({"template_id": ["tmpl-order-shipped"]}, 40037),
        ({"touser": ""}, 40003),
        ({"touser": {"id": 1}}, 40003),
        ({"page": "/pages/order/index"}, 41030),
        ({"page": "https://example.invalid/x"}, 41030),
        ({"page": 7}, 41030),
        ({"miniprogram_state": "production"}, 47003),
        ({"lang": "fr_FR"}, 47003),
        ({"data": [1, 2]}, 47003),
        ({"data": {"thing1": {"value": 5}, "time2": {"value": "15:01"}}}, 47003),
    ],
)
def test_send_refuses_bad_fields_with_wechat_errcodes(
    wechat: WeChat, token: str, fields: dict[str, object], errcode: int
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})

    assert wechat.send(token, **fields)["errcode"] == errcode
    assert wechat.sandbox.ledger()[0]["one_time_credits"] == 1


def test_gettemplate_lists_the_apps_templates_in_wechat_shape(wechat: WeChat, token: str) -> None:
    url = f"{wechat.url}/wxaapi/newtmpl/gettemplate"
    answer = requests.get(url, params={"access_token": token}, timeout=5).json()

    assert (answer["errcode"], answer["errmsg"]) == (0, "ok")
    by_id = {template["priTmplId"]: template for template in answer["data"]}
    assert by_id[SHIPPED.template_id]["type"] == 2
    assert by_id[SHIPPED.template_id]["content"] == SHIPPED.content
    assert by_id[SHIPPED.template_id]["title"] == SHIPPED.title
    assert by_id[SHIPPED.template_id]["keywordEnumValueList"] == []
    assert isinstance(by_id[SHIPPED.template_id]["example"], str)
    assert by_id[ACCOUNT.template_id]["type"] == 3
    assert by_id[ACCOUNT.template_id]["keywordEnumValueList"] == [
        {"keywordCode": "enum_string2", "enumValueList": ["待处理", "已完成"]}
    ]


def test_gettemplate_with_a_bad_token_answers_40001(wechat: WeChat) -> None:
    url = f"{wechat.url}/wxaapi/newtmpl/gettemplate"
    answer = requests.get(url, params={"access_token": "nope"}, timeout=5).json()

    assert answer["errcode"] == 40001


def test_subscribe_grants_and_answers_like_request_subscribe_message(wechat: WeChat) -> None:
    answer = wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.subscribe({ACCOUNT.template_id: "accept"}, openid="o-sandbox-user-0002")

    assert answer == {"errMsg": "requestSubscribeMessage:ok", SHIPPED.template_id: "accept"}
    assert wechat.sandbox.ledger() == [
        {
            "appid": APPID,
            "openid": OPENID,
            "template_id": SHIPPED.template_id,
            "one_time_credits": 1,
            "long_term_active": False,
        },
        {
            "appid": APPID,
            "openid": "o-sandbox-user-0002",
            "template_id": ACCOUNT.template_id,
            "one_time_credits": 0,
            "long_term_active": True,
        },
    ]


@pytest.mark.parametrize(
    ("results", "err_code"),
    [
        ({}, 10001),
        ({"tmpl-unknown": "accept"}, 20001),
        ({SHIPPED.template_id: "accept", ACCOUNT.template_id: "accept"}, 20002),
        ({SHIPPED.template_id: "maybe"}, 10004),
        ({SHIPPED.template_id: ["accept"]}, 10004),
    ],
)
def test_subscribe_fails_like_request_subscribe_message(
    wechat: WeChat, results: dict[str, str], err_code: int
) -> None:
    answer = wechat.subscribe(results)

    assert answer["errCode"] == err_code
    assert str(answer["errMsg"]).startswith("requestSubscribeMessage:fail")
    assert wechat.sandbox.ledger() == []


def test_injected_errcode_applies_to_exactly_count_sends(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.sandbox.inject_faults(errcode=45011, count=2)

    results = [wechat.send(token)["errcode"] for _ in range(3)]

    assert results == [45011, 45011, 0]


def test_injected_http_500_applies_to_exactly_count_sends(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.sandbox.inject_faults(http_status=500, count=2)

    statuses = [wechat.send_response(token).status_code for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert len(wechat.sandbox.received()) == 1


def test_injected_delay_slows_exactly_count_sends_that_still_deliver(
    wechat: WeChat, token: str
) -> None:
    for _ in range(2):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.sandbox.inject_faults(delay_s=0.4)

    started = time.monotonic()
    delayed = wechat.send(token)
    delayed_s = time.monotonic() - started
    started = time.monotonic()
    wechat.send(token)
    prompt_s = time.monotonic() - started

    assert delayed["errcode"] == 0
    assert delayed_s >= 0.4
    assert prompt_s < 0.4


def test_card_is_delivered_when_the_caller_times_out_during_a_delay(
    wechat: WeChat, token: str
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.sandbox.inject_faults(delay_s=0.5)
    body = {"touser": OPENID, "template_id": SHIPPED.template_id, "data": SHIPPED_DATA}

    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{wechat.url}/cgi-bin/message/subscribe/send",
            params={"access_token": token},
            json=body,
            timeout=(1, 0.1),
        )

    assert [card["touser"] for card in wechat.sandbox.received()] == [OPENID]


def test_faults_route_injects_like_inject_faults(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    fault = {"errcode": -1, "count": 2}
    answer = requests.post(f"{wechat.url}/sandbox/faults", json=fault, timeout=5).json()

    results = [wechat.send(token)["errcode"] for _ in range(3)]

    assert answer["errcode"] == 0
    assert results == [-1, -1, 0]


NOT_FAULTS = [
    {},
    {"count": 2},
    {"errcode": 0},
    {"errcode": "45011"},
    {"http_status": 200},
    {"delay_s": -1},
    {"errcode": -1, "count": 0},
    {"errcode": -1, "count": True},
]


@pytest.mark.parametrize("fault", NOT_FAULTS)
def test_faults_route_refuses_a_fault_that_is_not_one(
    wechat: WeChat, token: str, fault: dict[str, object]
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    answer = requests.post(f"{wechat.url}/sandbox/faults", json=fault, timeout=5).json()

    assert answer["errcode"] == 47001
    assert wechat.send(token)["errcode"] == 0


@pytest.mark.parametrize(
    "path", ["/cgi-bin/stable_token", "/cgi-bin/message/subscribe/send", "/sandbox/subscribe"]
)
@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe\x00", b"[" * 100_000])
def test_bad_json_answers_47001(wechat: WeChat, token: str, path: str, body: bytes) -> None:
    url = f"{wechat.url}{path}"
    response = requests.post(url, params={"access_token": token}, data=body, timeout=5)

    assert response.status_code == 200
    assert response.json() == {"errcode": 47001, "errmsg": "data format error"}


def test_unknown_path_answers_404_in_json(wechat: WeChat) -> None:
    response = requests.get(f"{wechat.url}/cgi-bin/token", timeout=5)

    assert response.status_code == 404
    assert response.json()["errcode"] == 40066


def test_home_page_lists_cards_newest_first_and_escapes_them(wechat: WeChat, token: str) -> None:
    for _ in range(2):
        wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.send(token, data={**SHIPPED_DATA, "thing1": {"value": "<script>x</script>"}})
    wechat.send(token, data={**SHIPPED_DATA, "thing1": {"value": "第二个包裹"}})

    response = requests.get(f"{wechat.url}/", timeout=5)

    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode("utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.index("第二个包裹") < page.index("&lt;script&gt;")
    assert OPENID in page


def home_page(wechat: WeChat) -> str:
    return requests.get(f"{wechat.url}/", timeout=5).content.decode("utf-8")


def test_home_page_shows_each_card_with_its_title_keywords_and_zoned_times(
    wechat: WeChat, token: str
) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    msgid = wechat.send(token)["msgid"]

    page = home_page(wechat)

    card = wechat.sandbox.received()[0]
    received = datetime.fromtimestamp(float(str(card["received_at"])), UTC)
    shanghai = received.astimezone(ZoneInfo("Asia/Shanghai"))
    assert "订单发货通知" in page
    for name, value in (("商品名称", "机械键盘"), ("发货时间", "2024-05-01 15:01")):
        assert re.search(f"<dt>{name} .*?</dt><dd>{value}</dd>", page), name
    assert "pages/order/index?id=1" in page
    assert OPENID in page
    assert str(msgid) in page
    assert received.isoformat(timespec="milliseconds").replace("+00:00", "Z") + "<" in page
    assert f"{shanghai:%Y-%m-%d %H:%M:%S} Asia/Shanghai (UTC+08:00)" in page
    assert "None" not in page


def test_home_page_shows_a_missing_page_as_a_dash_and_never_none(
    wechat: WeChat, token: str
) -> None:
    wechat.subscribe({ACCOUNT.template_id: "accept"})
    wechat.send(token, template_id=ACCOUNT.template_id, data=ACCOUNT_DATA, page=None)

    page = home_page(wechat)

    assert "账户提醒" in page
    assert re.search("<dt>处理状态 .*?</dt><dd>已完成</dd>", page)
    assert "<dt>page</dt><dd>—</dd>" in page
    assert "None" not in page


def test_home_page_wraps_long_values_within_its_width(wechat: WeChat, token: str) -> None:
    wechat.subscribe({SHIPPED.template_id: "accept"})
    wechat.send(token, page="pages/order/index?" + "&".join(f"k{n}=v{n}" for n in range(60)))

    page = home_page(wechat)

    assert re.search(r"body\{[^}]*max-width:\d+px", page)
    assert "word-break:break-word" in page
    assert "overflow-wrap:anywhere" in page


def test_the_projects_wechat_client_sends_through_the_sandbox(wechat: WeChat) -> None:
    clear_token_cache()
    client = WeChatClient(WeChatConfig(wechat.url, connect_timeout_s=1, read_timeout_s=2))
    client.access_token(APPID, SECRET)
    wechat.token(force_refresh=True)  # another holder invalidates the client's cached token
    wechat.subscribe({SHIPPED.template_id: "accept"})
    payload = {"touser": OPENID, "template_id": SHIPPED.template_id, "data": SHIPPED_DATA}

    report = client.send(APPID, SECRET, payload)
    clear_token_cache()

    assert report.outcome is Outcome.SENT
    assert report.msgid == wechat.sandbox.received()[0]["msgid"]


def test_stop_frees_the_port() -> None:
    sandbox = new_sandbox()
    url = sandbox.start()
    port = int(url.rsplit(":", 1)[1])

    sandbox.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


def test_is_silent_unless_verbose(capfd: pytest.CaptureFixture[str], wechat: WeChat) -> None:
    token = str(wechat.token()["access_token"])
    wechat.send(token)
    requests.post(f"{wechat.url}/sandbox/subscribe", data=b"{", timeout=5)

    assert capfd.readouterr() == ("", "")


def test_verbose_prints_one_line_per_request_without_the_token(
    capfd: pytest.CaptureFixture[str],
) -> None:
    sandbox = new_sandbox(verbose=True)
    wechat = WeChat(sandbox, sandbox.start())
    try:
        token = str(wechat.token()["access_token"])
        wechat.send(token)
        requests.get(f"{wechat.url}/wxaapi/newtmpl/gettemplate?access_token={token}", timeout=5)
    finally:
        sandbox.stop()

    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 3
    assert token not in out + err
    assert SECRET not in out + err


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
    url = sandbox.start()
    yield WeChat(sandbox, url)
    sandbox.stop()


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.sampled_from(SEND_FIELDS), json_values))
def test_any_json_send_gets_an_errcode_and_the_sandbox_keeps_serving(
    shared_wechat: WeChat, body: dict[str, object]
) -> None:
    token = str(shared_wechat.token()["access_token"])
    url = f"{shared_wechat.url}/cgi-bin/message/subscribe/send"
    response = requests.post(url, params={"access_token": token}, json=body, timeout=5)

    assert response.status_code == 200
    assert isinstance(response.json()["errcode"], int)
    assert shared_wechat.token()["access_token"] == token
