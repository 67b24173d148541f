"""Stable access tokens (``/cgi-bin/stable_token``): every caller gets the app's latest token
while more than five minutes of it remain; a call in its last five minutes gets a new token, and
the old one stays valid until it expires. ``force_refresh`` issues a new one and the old one
answers 40001 from then on. Not thread-safe: the state's lock guards it."""

from __future__ import annotations

import math
import secrets
import time

from local.sandbox.base import Json, Refusal

RENEW_WITHIN_S = 300.0


class Tokens:
    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._holders: dict[str, tuple[str, float]] = {}  # token -> appid, expires_at
        self._latest: dict[str, str] = {}  # appid -> token

    def issue(self, appid: str, force_refresh: bool) -> Json:
        latest = self._latest.get(appid)
        if latest is not None and force_refresh:
            del self._holders[latest]
        elif latest is not None and self._remaining_s(latest) > RENEW_WITHIN_S:
            return self._answer(latest)
        token = secrets.token_urlsafe(48)
        self._holders[token] = (appid, time.time() + self._ttl_s)
        self._latest[appid] = token
        return self._answer(token)

    def _remaining_s(self, token: str) -> float:
        return self._holders[token][1] - time.time()

    def _answer(self, token: str) -> Json:
        return {"access_token": token, "expires_in": math.ceil(self._remaining_s(token))}

    def app_of(self, query: dict[str, list[str]]) -> str:
        """The app whose valid token the query's ``access_token`` is."""
        token = query.get("access_token", [""])[0]
        if not token:
            raise Refusal(41001, "access_token missing")
        holder = self._holders.get(token)
        if holder is None:
            raise Refusal(40001, "invalid credential, access_token is invalid or not latest")
        if holder[1] <= time.time():
            raise Refusal(42001, "access_token expired")
        return holder[0]
