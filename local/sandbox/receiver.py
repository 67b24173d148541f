"""A mini-program backend's webhook receiver, in the sandbox: it verifies each request with the
Standard Webhooks library against the secrets it was given, answers as scripted (204 unless a
failure was asked for), and keeps what arrived for the page and ``GET /sandbox/webhooks``."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from local.sandbox.base import Json

MAX_KEPT = 500
ANSWER_OK = 204


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self._failures: list[int] = []
        self._received: list[Json] = []

    def add_secret(self, secret: object) -> None:
        if not isinstance(secret, str) or not secret.startswith("whsec_"):
            raise ValueError("secret must be the whsec_… an endpoint was created or rotated with")
        Webhook(secret)  # a secret that does not decode is refused now, not at every request
        with self._lock:
            if secret not in self._secrets:
                self._secrets.append(secret)

    def fail_next(self, status: object, count: object = 1) -> None:
        if not isinstance(status, int) or not 300 <= status <= 599:
            raise ValueError("status must be an HTTP status from 300 to 599")
        if not isinstance(count, int) or not 1 <= count <= 100:
            raise ValueError("count must be a whole number from 1 to 100")
        with self._lock:
            self._failures.extend([status] * count)

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify, record, answer: the status to answer with."""
        with self._lock:
            secrets = list(self._secrets)
            status = self._failures.pop(0) if self._failures else ANSWER_OK
        verified = _verified_by(secrets, body, headers)
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = None
        record: Json = {
            "received_at": time.time(),
            "webhook_id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signatures": len((headers.get("webhook-signature") or "").split()),
            "verified": verified,
            "type": payload.get("type") if isinstance(payload, dict) else None,
            "payload": payload,
            "answered": status,
        }
        with self._lock:
            self._received.append(record)
            del self._received[:-MAX_KEPT]
        return status

    def records(self) -> list[Json]:
        with self._lock:
            return list(self._received)


def _verified_by(secrets: list[str], body: bytes, headers: dict[str, str]) -> str:
    """``secret #n`` (the first registered secret that verifies), ``no secret given`` or
    ``invalid``."""
    if not secrets:
        return "no secret given"
    for n, secret in enumerate(secrets, start=1):
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        return f"secret #{n}"
    return "invalid"
