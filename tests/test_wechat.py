import json
import logging
import socket
import struct
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
import responses
import time_machine
from responses import matchers
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from chalicelib.adapters.wechat import (
    Outcome,
    WeChatClient,
    WeChatConfig,
    WeChatError,
    classify,
    clear_token_cache,
)

BASE = "http://127.0.0.1:9"
TOKEN_URL = f"{BASE}/cgi-bin/stable_token"
SEND_URL = f"{BASE}/cgi-bin/message/subscribe/send"
TEMPLATES_URL = f"{BASE}/wxaapi/newtmpl/gettemplate"
APPID = "wx0000000000000001"
SECRET = "s3cr3t-0000000000000000000000001"
TOKEN = "tok-aaaaaaaaaaaaaaaaaaaa"
OTHER_TOKEN = "tok-bbbbbbbbbbbbbbbbbbbb"
PAYLOAD: dict[str, object] = {
    "touser": "o-user-0001",
    "template_id": "tmpl-0001",
    "data": {"thing1": {"value": "Parcel shipped"}},
    "miniprogram_state": "formal",
    "lang": "zh_CN",
}


@pytest.fixture(autouse=True)
def empty_token_cache() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def client() -> WeChatClient:
    return WeChatClient(WeChatConfig(api_base=BASE, connect_timeout_s=1.5, read_timeout_s=4.0))


def token_answers(mock: responses.RequestsMock, *tokens: str) -> None:
    for token in tokens:
        mock.post(TOKEN_URL, json={"access_token": token, "expires_in": 7200})


def send_answer(mock: responses.RequestsMock, body: object, token: str = TOKEN) -> None:
    mock.post(SEND_URL, json=body, match=[matchers.query_param_matcher({"access_token": token})])


def calls_to(mock: responses.RequestsMock, url: str) -> list[responses.Call]:
    return [call for call in mock.calls if call.request.url.split("?")[0] == url]


def test_fetches_the_token_once_and_reuses_it_across_sends(mock, client):
    token_answers(mock, TOKEN)
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 1})

    outcomes = [client.send(APPID, SECRET, PAYLOAD).outcome for _ in range(3)]

    assert outcomes == [Outcome.SENT] * 3
    assert len(calls_to(mock, TOKEN_URL)) == 1
    assert len(calls_to(mock, SEND_URL)) == 3


def test_asks_for_a_stable_token_without_forcing_a_refresh(mock, client):
    token_answers(mock, TOKEN)

    assert client.access_token(APPID, SECRET) == TOKEN
    assert json.loads(calls_to(mock, TOKEN_URL)[0].request.body) == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": False,
    }


def test_refreshes_the_token_when_less_than_300_seconds_remain(mock, client):
    token_answers(mock, TOKEN, OTHER_TOKEN)
    with time_machine.travel(datetime(2025, 1, 1, tzinfo=UTC), tick=False) as clock:
        assert client.access_token(APPID, SECRET) == TOKEN
        clock.shift(7200 - 301)
        assert client.access_token(APPID, SECRET) == TOKEN
        clock.shift(2)
        assert client.access_token(APPID, SECRET) == OTHER_TOKEN
    assert len(calls_to(mock, TOKEN_URL)) == 2


def test_keeps_a_token_given_in_its_last_five_minutes_instead_of_fetching_it_per_send(mock, client):
    """A server that answers the same token near its expiry (it does not renew it)."""
    mock.post(TOKEN_URL, json={"access_token": TOKEN, "expires_in": 200})
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 1})
    with time_machine.travel(datetime(2025, 1, 1, tzinfo=UTC), tick=False) as clock:
        outcomes = [client.send(APPID, SECRET, PAYLOAD).outcome for _ in range(5)]
        assert len(calls_to(mock, TOKEN_URL)) == 1
        clock.shift(61)
        client.send(APPID, SECRET, PAYLOAD)

    assert outcomes == [Outcome.SENT] * 5
    assert len(calls_to(mock, TOKEN_URL)) == 2


def test_caches_tokens_per_appid(mock, client):
    token_answers(mock, TOKEN, OTHER_TOKEN)

    assert client.access_token(APPID, SECRET) == TOKEN
    assert client.access_token("wx0000000000000002", SECRET) == OTHER_TOKEN
    assert client.access_token(APPID, SECRET) == TOKEN


def test_passes_connect_and_read_timeouts(mock, client):
    token_answers(mock, TOKEN)
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 1})

    client.send(APPID, SECRET, PAYLOAD)

    assert [call.request.req_kwargs["timeout"] for call in mock.calls] == [(1.5, 4.0)] * 2


@pytest.mark.parametrize(
    ("errcode", "outcome"),
    [
        (0, Outcome.SENT),
        (-1, Outcome.RETRY),
        (45011, Outcome.RETRY),
        (43108, Outcome.RETRY),
        (45009, Outcome.DEFER_DAILY_QUOTA),
        (43101, Outcome.NO_SUBSCRIPTION),
        (40003, Outcome.REJECTED),
        (40037, Outcome.REJECTED),
        (41030, Outcome.REJECTED),
        (43107, Outcome.REJECTED),
        (45168, Outcome.REJECTED),
        (47003, Outcome.REJECTED),
        (-2, Outcome.RETRY),
        (40099, Outcome.REJECTED),
    ],
)
def test_maps_each_send_errcode_to_its_outcome(mock, client, errcode, outcome):
    token_answers(mock, TOKEN)
    send_answer(mock, {"errcode": errcode, "errmsg": f"answer {errcode}"})

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.errcode, report.errmsg) == (
        outcome,
        errcode,
        f"answer {errcode}",
    )
    assert classify(errcode) == outcome


def test_keeps_the_errmsg_that_names_the_bad_field(mock, client):
    token_answers(mock, TOKEN)
    errmsg = "argument invalid! data.thing1.value exceeds limit rid: 0000"
    send_answer(mock, {"errcode": 47003, "errmsg": errmsg})

    assert client.send(APPID, SECRET, PAYLOAD).errmsg == errmsg


def test_keeps_the_msgid_of_a_sent_message(mock, client):
    token_answers(mock, TOKEN)
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 2880491553063813120})

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.msgid) == (Outcome.SENT, 2880491553063813120)


def test_sends_chinese_data_as_utf8_json(mock, client):
    token_answers(mock, TOKEN)
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 1})
    payload = {**PAYLOAD, "data": {"thing1": {"value": "订单已发货"}}}

    client.send(APPID, SECRET, payload)

    request = calls_to(mock, SEND_URL)[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert "订单已发货".encode() in request.body
    assert json.loads(request.body.decode("utf-8")) == payload


@pytest.mark.parametrize("token_errcode", [40001, 40014, 42001])
def test_fetches_the_token_again_once_after_a_token_error_and_sends(mock, client, token_errcode):
    token_answers(mock, TOKEN, OTHER_TOKEN)
    send_answer(mock, {"errcode": token_errcode, "errmsg": "invalid credential"}, token=TOKEN)
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 7}, token=OTHER_TOKEN)

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.msgid) == (Outcome.SENT, 7)
    assert len(calls_to(mock, TOKEN_URL)) == 2
    assert client.access_token(APPID, SECRET) == OTHER_TOKEN


def test_two_token_errors_in_a_row_give_retry(mock, client):
    token_answers(mock, TOKEN, OTHER_TOKEN)
    send_answer(mock, {"errcode": 40001, "errmsg": "invalid credential"}, token=TOKEN)
    send_answer(mock, {"errcode": 42001, "errmsg": "access_token expired"}, token=OTHER_TOKEN)

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.errcode) == (Outcome.RETRY, 42001)
    assert len(calls_to(mock, SEND_URL)) == 2


def test_keeps_a_token_that_another_caller_renewed_meanwhile(mock, client):
    token_answers(mock, TOKEN, OTHER_TOKEN)
    send_answer(mock, {"errcode": 0, "errmsg": "ok", "msgid": 1}, token=OTHER_TOKEN)

    def renew_then_refuse(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        clear_token_cache()
        client.access_token(APPID, SECRET)  # another caller caches OTHER_TOKEN
        return 200, {}, json.dumps({"errcode": 40001, "errmsg": "invalid credential"})

    mock.add_callback(
        responses.POST,
        SEND_URL,
        callback=renew_then_refuse,
        match=[matchers.query_param_matcher({"access_token": TOKEN})],
    )

    assert client.send(APPID, SECRET, PAYLOAD).outcome == Outcome.SENT
    assert len(calls_to(mock, TOKEN_URL)) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_gives_retry(mock, client, status):
    token_answers(mock, TOKEN)
    mock.post(SEND_URL, status=status, body="Bad Gateway")

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.errcode) == (Outcome.RETRY, None)
    assert str(status) in report.errmsg


def failed_connect(reason: Exception) -> requests.ConnectionError:
    """A connect failure as requests raises it: urllib3's reason inside a MaxRetryError."""
    wrapped = MaxRetryError(None, "/cgi-bin/message/subscribe/send", reason)
    if isinstance(reason, SSLError):
        return requests.exceptions.SSLError(wrapped)
    if isinstance(reason, NewConnectionError):
        return requests.ConnectionError(wrapped)
    return requests.ConnectTimeout(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        failed_connect(NameResolutionError("api.weixin.qq.com", None, socket.gaierror(-2))),
        failed_connect(ConnectTimeoutError(None, "connect timed out")),
        failed_connect(SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number")),
    ],
    ids=["dns", "connect-timeout", "tls-handshake"],
)
def test_a_failure_before_the_request_was_written_gives_retry(mock, client, error):
    token_answers(mock, TOKEN)
    mock.post(SEND_URL, body=error)

    assert client.send(APPID, SECRET, PAYLOAD).outcome == Outcome.RETRY


class OneTokenThen:
    """A WeChat on a real socket: it answers the token call, then fails the send by ``how``
    (``refuse``: it stops listening; ``close``, ``reset``: after reading the request)."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            connection, _ = self.listener.accept()
            with connection:
                connection.recv(65536)
                answer = json.dumps({"access_token": TOKEN, "expires_in": 7200}).encode()
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close"
                    + f"\r\nContent-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
            if self.how == "refuse":
                return
            connection, _ = self.listener.accept()
            connection.recv(65536)
            if self.how == "reset":  # an RST instead of a FIN
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()


@pytest.mark.parametrize("how", ["refuse", "close", "reset"])
def test_only_a_refused_connection_is_retried_once_the_request_may_have_been_written(how):
    wechat = OneTokenThen(how)
    client = WeChatClient(WeChatConfig(api_base=wechat.base, connect_timeout_s=2, read_timeout_s=2))

    report = client.send(APPID, SECRET, PAYLOAD)

    wechat.thread.join(5)
    expected = Outcome.RETRY if how == "refuse" else Outcome.UNKNOWN
    assert (report.outcome, report.errmsg) == (expected, "transport error: ConnectionError")


@pytest.mark.parametrize(
    "error",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError(ReadTimeoutError(None, "/send", "Read timed out.")),
        requests.exceptions.ChunkedEncodingError("connection broken mid-answer"),
    ],
)
def test_answer_lost_after_the_request_was_sent_gives_unknown(mock, client, error):
    token_answers(mock, TOKEN)
    mock.post(SEND_URL, body=error)

    assert client.send(APPID, SECRET, PAYLOAD).outcome == Outcome.UNKNOWN


@pytest.mark.parametrize("body", ["<html>ok</html>", "[1, 2]", '{"errmsg": "ok"}'])
def test_unreadable_success_answer_gives_unknown(mock, client, body):
    token_answers(mock, TOKEN)
    mock.post(SEND_URL, body=body, status=200)

    assert client.send(APPID, SECRET, PAYLOAD).outcome == Outcome.UNKNOWN


def test_token_fetch_error_gives_retry_with_its_errcode(mock, client):
    mock.post(TOKEN_URL, json={"errcode": 40013, "errmsg": "invalid appid"})

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.errcode, report.errmsg) == (
        Outcome.RETRY,
        40013,
        "invalid appid",
    )
    assert calls_to(mock, SEND_URL) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.ConnectTimeout("connect timed out")},
        {"status": 502, "body": "Bad Gateway"},
        {"json": {"expires_in": 7200}},
    ],
)
def test_token_fetch_failure_without_errcode_gives_retry(mock, client, answer):
    mock.post(TOKEN_URL, **answer)

    report = client.send(APPID, SECRET, PAYLOAD)

    assert (report.outcome, report.errcode) == (Outcome.RETRY, None)
    assert calls_to(mock, SEND_URL) == []


def test_access_token_raises_wechat_error_with_the_errcode(mock, client):
    mock.post(TOKEN_URL, json={"errcode": 40125, "errmsg": "invalid appsecret"})

    with pytest.raises(WeChatError) as raised:
        client.access_token(APPID, SECRET)

    assert (raised.value.errcode, raised.value.errmsg) == (40125, "invalid appsecret")


def test_lists_the_templates(mock, client):
    token_answers(mock, TOKEN)
    templates = [{"priTmplId": "tmpl-0001", "title": "发货通知", "content": "{{thing1.DATA}}"}]
    mock.get(
        TEMPLATES_URL,
        json={"errcode": 0, "errmsg": "ok", "data": templates},
        match=[matchers.query_param_matcher({"access_token": TOKEN})],
    )

    assert client.get_templates(APPID, SECRET) == templates


def test_lists_the_templates_after_fetching_a_refused_token_again(mock, client):
    token_answers(mock, TOKEN, OTHER_TOKEN)
    mock.get(TEMPLATES_URL, json={"errcode": 42001, "errmsg": "access_token expired"})
    mock.get(TEMPLATES_URL, json={"errcode": 0, "errmsg": "ok", "data": []})

    assert client.get_templates(APPID, SECRET) == []
    assert len(calls_to(mock, TOKEN_URL)) == 2


def test_template_list_error_raises_wechat_error(mock, client):
    token_answers(mock, TOKEN)
    mock.get(TEMPLATES_URL, json={"errcode": 48001, "errmsg": "api unauthorized"})

    with pytest.raises(WeChatError) as raised:
        client.get_templates(APPID, SECRET)

    assert (raised.value.errcode, raised.value.errmsg) == (48001, "api unauthorized")


def leaked_url_error(url: str, token: str) -> requests.ConnectionError:
    """requests quotes the URL, access token included, in its own messages."""
    return requests.ConnectionError(f"Max retries exceeded with url: {url}?access_token={token}")


def exception_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error)


def test_secret_and_token_never_appear_in_errors_reports_or_logs(mock, client, caplog):
    caplog.set_level(logging.DEBUG)
    mock.post(TOKEN_URL, json={"errcode": 40125, "errmsg": f"bad secret {SECRET}"})
    mock.post(TOKEN_URL, body=requests.ConnectionError("connection refused"))
    token_answers(mock, TOKEN, OTHER_TOKEN)
    send_answer(mock, {"errcode": 40001, "errmsg": f"invalid {TOKEN}"}, token=TOKEN)
    send_answer(mock, {"errcode": 40001, "errmsg": f"invalid {OTHER_TOKEN}"}, token=OTHER_TOKEN)
    mock.get(TEMPLATES_URL, body=leaked_url_error(TEMPLATES_URL, OTHER_TOKEN))

    texts: list[str] = []
    for _ in range(2):
        with pytest.raises(WeChatError) as raised:
            client.access_token(APPID, SECRET)
        texts.append(exception_text(raised.value))
    texts.append(repr(client.send(APPID, SECRET, PAYLOAD)))
    with pytest.raises(WeChatError) as raised:
        client.get_templates(APPID, SECRET)
    texts.append(exception_text(raised.value))
    texts.append(caplog.text)

    assert "40001" in caplog.text
    for text in texts:
        for secret in (SECRET, TOKEN, OTHER_TOKEN):
            assert secret not in text


def test_a_send_transport_error_report_hides_the_token(mock, client):
    token_answers(mock, TOKEN)
    refused = NewConnectionError(None, "Failed to establish a new connection")
    error = MaxRetryError(None, f"/cgi-bin/message/subscribe/send?access_token={TOKEN}", refused)
    assert TOKEN in str(error)
    mock.post(SEND_URL, body=requests.ConnectionError(error))

    report = client.send(APPID, SECRET, PAYLOAD)

    assert report.outcome == Outcome.RETRY
    assert TOKEN not in report.errmsg


def test_concurrent_callers_fetch_the_token_once(mock, client):
    fetch_started = threading.Event()

    def slow_token(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        fetch_started.set()
        time.sleep(0.05)  # keep the fetch open while the other threads arrive
        return 200, {}, json.dumps({"access_token": TOKEN, "expires_in": 7200})

    mock.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
    start = threading.Barrier(8)

    def fetch() -> str:
        start.wait()
        return client.access_token(APPID, SECRET)

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(lambda _: fetch(), range(8)))

    assert tokens == [TOKEN] * 8
    assert fetch_started.is_set()
    assert len(calls_to(mock, TOKEN_URL)) == 1
