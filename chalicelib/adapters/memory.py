"""The send queue and the secrets in memory, beside the in-memory table (fast tests)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.ports import Envelope, MissingSecret


@dataclass
class MemoryQueue:
    """Envelopes in the order they were sent; ``take`` hands them out once."""

    sent: list[Envelope] = field(default_factory=list)
    postponed: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, envelope: Envelope) -> None:
        with self._lock:
            self.sent.append(envelope)

    def send_batch(self, envelopes: Sequence[Envelope]) -> set[int]:
        with self._lock:
            self.sent.extend(envelopes)
        return set(range(len(envelopes)))

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.postponed[receipt_handle] = seconds

    def take(self) -> list[Envelope]:
        with self._lock:
            taken, self.sent = self.sent, []
        return taken


@dataclass
class MemorySecrets:
    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, app_id: str, name: str) -> str:
        try:
            return self.values[(app_id, name)]
        except KeyError:
            raise MissingSecret(f"{name} of app {app_id} is not configured") from None

    def put(self, app_id: str, name: str, value: str) -> None:
        self.values[(app_id, name)] = value
