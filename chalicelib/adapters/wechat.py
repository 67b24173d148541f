"""WeChat API client: stable access token, subscription-message send, template list."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from chalicelib.adapters import metrics
from chalicelib.domain.outcomes import TOKEN_ERRORS, Outcome, SendReport, classify
from chalicelib.ports import WeChatRefused

logger = logging.getLogger(__name__)

REFRESH_MARGIN_S = 300.0  # WeChat renews a stable token in its last five minutes
KEEP_AT_LEAST_S = 60.0  # a token just given is kept this long, whatever its expires_in said
# Raised while the request is prepared or the connection opened: nothing reached WeChat yet.
# (urllib3 reports a TLS failure as SSLError whichever phase it happens in; it is the handshake
# in practice, which is why it is counted here.)
_BEFORE_WRITING = (
    requests.ConnectTimeout,
    requests.exceptions.SSLError,
    requests.exceptions.ProxyError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


@dataclass(frozen=True)
class WeChatConfig:
    api_base: str
    connect_timeout_s: float
    read_timeout_s: float


class WeChatError(WeChatRefused):
    """A token or template-list call failed; the message never holds a token or secret."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class _Unreadable(Exception):
    """A 2xx answer that is not a JSON object with an integer errcode."""


class _HttpStatus(Exception):
    """A non-2xx HTTP status: WeChat did not take the request."""


@dataclass(frozen=True)
class _Reply:
    errcode: int
    errmsg: str  # with any echo of the access token masked
    body: dict[str, object]


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: float  # when to ask for a token again


def _token_given(value: str, expires_in: int, now: float) -> _Token:
    """Ask again when WeChat would renew it; a token given with less time than that left (a
    server that does not renew) is still kept a while instead of being fetched per send."""
    return _Token(value, now + max(expires_in - REFRESH_MARGIN_S, KEEP_AT_LEAST_S))


_TokenKey = tuple[str, str]
_tokens: dict[_TokenKey, _Token] = {}
_fetch_locks: dict[_TokenKey, threading.Lock] = {}
_registry_lock = threading.Lock()
_session: requests.Session | None = None


def clear_token_cache() -> None:
    with _registry_lock:
        _tokens.clear()
        _fetch_locks.clear()


def _shared_session() -> requests.Session:
    global _session
    with _registry_lock:
        if _session is None:
            _session = requests.Session()
        return _session


def _fetch_lock(key: _TokenKey) -> threading.Lock:
    with _registry_lock:
        return _fetch_locks.setdefault(key, threading.Lock())


def _fresh_token(key: _TokenKey) -> str | None:
    token = _tokens.get(key)
    if token is None or time.time() >= token.renew_at:
        return None
    return token.value


class WeChatClient:
    def __init__(self, config: WeChatConfig, session: requests.Session | None = None) -> None:
        self._config = config
        self._session = session

    def access_token(self, appid: str, secret: str) -> str:
        key = (self._config.api_base, appid)
        if cached := _fresh_token(key):
            return cached
        with _fetch_lock(key):
            if cached := _fresh_token(key):
                return cached
            metrics.wechat_token_fetched()
            token = self._fetch_token(appid, secret)
            _tokens[key] = token
            return token.value

    def send(self, appid: str, secret: str, payload: dict[str, object]) -> SendReport:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            reply = self._with_token(appid, secret, lambda token: self._post_send(token, body))
        except WeChatError as exc:
            return SendReport(Outcome.RETRY, exc.errcode, exc.errmsg)
        except _HttpStatus as exc:
            return SendReport(Outcome.RETRY, None, str(exc))
        except _Unreadable as exc:
            return SendReport(Outcome.UNKNOWN, None, str(exc))
        except requests.RequestException as exc:
            return SendReport(_transport_outcome(exc), None, _transport_errmsg(exc))
        msgid = reply.body.get("msgid")
        msgid = msgid if isinstance(msgid, int) and reply.errcode == 0 else None
        return SendReport(classify(reply.errcode), reply.errcode, reply.errmsg, msgid)

    def get_templates(self, appid: str, secret: str) -> list[dict[str, object]]:
        try:
            reply = self._with_token(appid, secret, self._get_templates)
        except (_HttpStatus, _Unreadable) as exc:
            raise WeChatError(None, str(exc)) from None
        except requests.RequestException as exc:
            # from None: requests' message quotes the URL, and the URL holds the access token.
            raise WeChatError(None, _transport_errmsg(exc)) from None
        if reply.errcode != 0:
            raise WeChatError(reply.errcode, reply.errmsg)
        data = reply.body.get("data")
        if not isinstance(data, list):
            raise WeChatError(None, "gettemplate answer without a data list")
        return data

    def _with_token(self, appid: str, secret: str, call: Callable[[str], _Reply]) -> _Reply:
        """Run `call` with a token; on a token error drop that token and run it once more."""
        token = self.access_token(appid, secret)
        reply = call(token)
        if reply.errcode not in TOKEN_ERRORS:
            return reply
        logger.warning("WeChat refused the access token of %s (errcode %s)", appid, reply.errcode)
        metrics.wechat_token_refused()
        self._forget_token(appid, token)
        return call(self.access_token(appid, secret))

    def _forget_token(self, appid: str, failed: str) -> None:
        key = (self._config.api_base, appid)
        with _fetch_lock(key):
            cached = _tokens.get(key)
            if cached is not None and cached.value == failed:  # another thread may have renewed it
                del _tokens[key]

    def _fetch_token(self, appid: str, secret: str) -> _Token:
        # Never force_refresh: a forced refresh invalidates the token every other container holds.
        request = {
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret,
            "force_refresh": False,
        }
        try:
            response = self._http().post(
                f"{self._config.api_base}/cgi-bin/stable_token",
                json=request,
                timeout=self._timeouts(),
            )
        except requests.RequestException as exc:
            raise WeChatError(None, _transport_errmsg(exc)) from exc
        try:
            answer = _json_object(response)
        except (_HttpStatus, _Unreadable) as exc:
            raise WeChatError(None, f"stable_token: {exc}") from None
        errcode = answer.get("errcode", 0)
        if errcode != 0:
            code = errcode if isinstance(errcode, int) else None
            raise WeChatError(code, str(answer.get("errmsg", "")).replace(secret, "***"))
        value, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(value, str) or not value or not isinstance(expires_in, int):
            raise WeChatError(None, "stable_token answer without access_token or expires_in")
        return _token_given(value, expires_in, time.time())

    def _post_send(self, token: str, body: bytes) -> _Reply:
        response = self._http().post(
            f"{self._config.api_base}/cgi-bin/message/subscribe/send",
            params={"access_token": token},
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=self._timeouts(),
        )
        return _reply(response, token)

    def _get_templates(self, token: str) -> _Reply:
        response = self._http().get(
            f"{self._config.api_base}/wxaapi/newtmpl/gettemplate",
            params={"access_token": token},
            timeout=self._timeouts(),
        )
        return _reply(response, token)

    def _http(self) -> requests.Session:
        return self._session or _shared_session()

    def _timeouts(self) -> tuple[float, float]:
        return (self._config.connect_timeout_s, self._config.read_timeout_s)


def _json_object(response: requests.Response) -> dict[str, object]:
    if not 200 <= response.status_code < 300:
        raise _HttpStatus(f"HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise _Unreadable(f"unreadable answer (HTTP {response.status_code})") from None
    if not isinstance(answer, dict):
        raise _Unreadable("answer is not a JSON object")
    return answer


def _reply(response: requests.Response, token: str) -> _Reply:
    body = _json_object(response)
    errcode = body.get("errcode")
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        raise _Unreadable("answer without an integer errcode")
    errmsg = str(body.get("errmsg", "")).replace(token, "***")
    return _Reply(errcode, errmsg, body)


def _transport_outcome(exc: requests.RequestException) -> Outcome:
    """Retry only what failed before the request was written (DNS, refused, connect timeout,
    TLS); after that WeChat may have delivered the card (a reset, a closed connection, a read
    timeout), so the outcome is unknown and the card is not sent again."""
    return Outcome.RETRY if _before_writing(exc) else Outcome.UNKNOWN


def _before_writing(exc: requests.RequestException) -> bool:
    if isinstance(exc, _BEFORE_WRITING):
        return True
    # requests wraps a failed connect in MaxRetryError (urllib3's NewConnectionError, DNS and
    # refused, is a ConnectTimeoutError); a failure after the request was written comes as a
    # ProtocolError (RemoteDisconnected, reset) or a read timeout.
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, ConnectTimeoutError)


def _transport_errmsg(exc: requests.RequestException) -> str:
    # Only the type name: requests' own message quotes the URL, which holds the access token.
    return f"transport error: {type(exc).__name__}"
