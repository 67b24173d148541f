"""The sandbox's HTTP server on a loopback address, and ``Sandbox``, what the local stack and the
tests drive."""

from __future__ import annotations

import ipaddress
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from local.sandbox import events, push
from local.sandbox.base import Json, Refusal
from local.sandbox.routes import DELIVERY_FAILED_STATUS, ROUTES, Answer, Request, json_answer
from local.sandbox.state import WeChatState
from local.sandbox.templates import SandboxTemplate

TOKEN_TTL_S = 7200
MAX_BODY_BYTES = 1_000_000
STOP_POLL_S = 0.05  # how often the serving thread checks for stop()


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's 5 resets clients that call from many threads

    def __init__(self, address: tuple[str, int], state: WeChatState, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is no fault
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # a client that stalls mid-body cannot hold a thread for ever
    disable_nagle_algorithm = True  # headers and body go in two sends: no 40 ms wait between
    protocol_version = "HTTP/1.1"  # keep-alive: a sender reuses its connection card after card

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the default line quotes the query string, which holds the access token."""

    def _dispatch(self, method: str) -> None:
        server = cast(_Server, self.server)
        url = urlsplit(self.path)
        route = ROUTES.get((method, url.path))
        try:
            if route is None:
                raise Refusal(40066, "invalid url", 404)
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = route(server.state, Request(parse_qs(url.query), self._body(), headers))
        except Refusal as refusal:
            answer = json_answer(refusal.body, refusal.http_status)
        self._write(answer)
        if server.verbose:
            print(f"sandbox: {method} {url.path} {answer.status}", flush=True)

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise Refusal(47001, "data format error")
        try:
            return self.rfile.read(int(length))
        except TimeoutError:
            self.close_connection = True
            raise Refusal(47001, "data format error") from None

    def _write(self, answer: Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except ConnectionError:
            pass  # the caller stopped waiting (an injected delay): there is no one left to tell


def _as_value_error(action: Any, *args: Any) -> Any:
    try:
        return action(*args)
    except Refusal as refusal:
        raise ValueError(str(refusal)) from None


class Sandbox:
    """WeChat's servers for made-up mini-programs, served from a daemon thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
        token_ttl_s: float = TOKEN_TTL_S,
        push_retry_delay_s: float = push.RETRY_DELAY_S,
        push_timeout_s: float = push.PUSH_TIMEOUT_S,
    ) -> None:
        try:
            loopback = ipaddress.IPv4Address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the sandbox listens on a loopback address only, not {host!r}")
        self._address = (host, port)
        self._verbose = verbose
        self._pusher = push.Pusher(push_retry_delay_s, push_timeout_s)
        self._state = WeChatState(token_ttl_s, self._pusher)
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
        target = events.push_target(callback_url, token, encoding_aes_key, fmt)
        self._state.add_app(appid, secret, target)

    def add_template(self, appid: str, template: SandboxTemplate) -> None:
        """As ``POST /sandbox/templates``; ValueError for a template WeChat could not have."""
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
        self._state.faults.add(errcode, http_status, delay_s, count)

    def switch_off(self, appid: str, openid: str, template_ids: list[str]) -> int | None:
        """As ``POST /sandbox/switch_off``; the push id, or None when the app has no callback."""
        return _as_value_error(self._state.switch_off, appid, openid, template_ids)

    def fail_delivery(
        self, appid: str, msgid: int, error_code: int, error_status: str = DELIVERY_FAILED_STATUS
    ) -> int:
        """As ``POST /sandbox/fail_delivery``: push a sent event with ``error_code``."""
        return _as_value_error(self._state.fail_delivery, appid, msgid, error_code, error_status)

    def repeat_push(self, push_id: int) -> int:
        return self._pusher.repeat(push_id)

    def pushes(self) -> list[Json]:
        return self._pusher.records()

    def wait_for_pushes(self, timeout_s: float = 10.0) -> bool:
        """True once every push so far is answered or given up; False after ``timeout_s``."""
        return self._pusher.wait_idle(timeout_s)
