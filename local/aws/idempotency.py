"""``ClientRequestToken`` as DynamoDB honours it for ``TransactWriteItems``
(docs/local-stack.md#what-the-embedded-aws-does-as-dynamodb-does).

moto ignores the token: a transaction sent again after its answer was lost is applied again (a
reservation then fails its own condition, the credit already taken). DynamoDB keeps a token for
10 minutes after the first request that used it completed: the same token with the same request
answers as the first did without applying anything; with another request it is
``IdempotentParameterMismatchException``; while the first is still being applied,
``TransactionInProgressException``. A transaction that was canceled wrote nothing, so its token is
not kept: sent again, it runs again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WINDOW_S = 600.0

Answer = tuple[int, dict[str, Any], Any]  # moto's (status, headers, body)


class TokenRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Use:
    request: str
    answer: Answer | None  # None while the first request is being applied
    completed_at: float = 0.0


def fingerprint(params: dict[str, Any]) -> str:
    """The request without its token: what "the same request" compares."""
    return json.dumps(
        {k: v for k, v in params.items() if k != "ClientRequestToken"}, sort_keys=True, default=str
    )


class Tokens:
    """The tokens of the last 10 minutes, by token (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._uses: dict[str, _Use] = {}
        self._lock = threading.Lock()

    def begin(self, token: str | None, request: str) -> Answer | None:
        """The first answer to give again, or None when the request is to be applied (the token
        is then in progress until ``done`` or ``canceled``); ``TokenRefused`` otherwise."""
        if not token:
            return None
        with self._lock:
            now = self.clock()
            use = self._uses.get(token)
            if use is not None and use.answer is not None and now - use.completed_at > WINDOW_S:
                use = None  # older than the window: a new request
            if use is None:
                self._forget_expired(now)
                self._uses[token] = _Use(request, None)
                return None
            if use.request != request:
                raise TokenRefused(
                    "IdempotentParameterMismatchException",
                    "The request uses the same client token as a previous, but non-identical "
                    "request. Do not reuse a client token with different requests, unless the "
                    "requests are identical.",
                )
            if use.answer is None:
                raise TokenRefused(
                    "TransactionInProgressException",
                    "The transaction with the given request token is already in progress.",
                )
            return use.answer

    def done(self, token: str | None, answer: Answer) -> None:
        if not token:
            return
        with self._lock:
            use = self._uses.get(token)
            if use is not None:
                use.answer, use.completed_at = answer, self.clock()

    def canceled(self, token: str | None) -> None:
        if not token:
            return
        with self._lock:
            use = self._uses.get(token)
            if use is not None and use.answer is None:
                del self._uses[token]

    def _forget_expired(self, now: float) -> None:
        if len(self._uses) % 1024:
            return
        for token, use in list(self._uses.items()):
            if use.answer is not None and now - use.completed_at > WINDOW_S:
                del self._uses[token]


tokens = Tokens()
