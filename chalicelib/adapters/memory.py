"""The send queue and the secrets in memory, beside the in-memory table (fast tests).

The queue keeps messages as an SQS standard queue does: a message's delay hides it until it is
due, a receive hides it for the visibility timeout and hands out a new receipt handle (only the
newest one deletes it), and a message received more than ``max_receives`` times goes to the
dead letters instead. Time is the wall clock, so a test's pinned clock moves the queue too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.domain.dispatch import MAX_DELAY_S
from chalicelib.ports import Envelope, MissingSecret

SQS_DEFAULT_VISIBILITY_S = 30


@dataclass
class QueuedMessage:
    """One message in the queue, with what SQS tells a receiver about it."""

    message_id: str
    body: str
    sent_at: float
    visible_at: float
    receive_count: int = 0
    first_received_at: float | None = None
    receipt_handle: str | None = None  # the newest; None until first received

    @property
    def md5_of_body(self) -> str:
        return hashlib.md5(self.body.encode(), usedforsecurity=False).hexdigest()


class ReceiptHandleIsInvalid(Exception):
    """No message in the queue was received with this receipt handle."""


@dataclass
class MemoryQueue:
    """The SendQueue port, with the receive side Lambda's event source uses."""

    visibility_timeout_s: int = SQS_DEFAULT_VISIBILITY_S
    max_receives: int | None = None  # the redrive policy's maxReceiveCount (None: no redrive)
    messages: list[QueuedMessage] = field(default_factory=list)
    dead_letters: list[QueuedMessage] = field(default_factory=list)
    _handles: itertools.count = field(default_factory=itertools.count, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, envelope: Envelope) -> None:
        now = time.time()
        delay = max(0, min(MAX_DELAY_S, envelope.delay_s))
        body = json.dumps(envelope.body, ensure_ascii=False)
        with self._lock:
            self.messages.append(QueuedMessage(str(uuid.uuid4()), body, now, now + delay))

    def send_batch(self, envelopes: Sequence[Envelope]) -> set[int]:
        for envelope in envelopes:
            self.send(envelope)
        return set(range(len(envelopes)))

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        """ChangeMessageVisibility: the message comes back ``seconds`` from now."""
        with self._lock:
            self._received_as(receipt_handle).visible_at = time.time() + seconds

    def receive(self, limit: int = 10) -> list[QueuedMessage]:
        """Up to ``limit`` visible messages, each hidden for the visibility timeout."""
        now = time.time()
        taken: list[QueuedMessage] = []
        with self._lock:
            for message in list(self.messages):
                if len(taken) == limit:
                    break
                if message.visible_at > now:
                    continue
                if self.max_receives is not None and message.receive_count >= self.max_receives:
                    self.messages.remove(message)
                    self.dead_letters.append(message)
                    continue
                message.receive_count += 1
                message.first_received_at = message.first_received_at or now
                message.receipt_handle = f"memory-receipt-{next(self._handles)}"
                message.visible_at = now + self.visibility_timeout_s
                taken.append(message)
        return taken

    def delete(self, receipt_handle: str) -> None:
        """DeleteMessage: only the newest receipt handle deletes; an older one does nothing."""
        with self._lock:
            for message in self.messages:
                if message.receipt_handle == receipt_handle:
                    self.messages.remove(message)
                    return

    def _received_as(self, receipt_handle: str) -> QueuedMessage:
        for message in self.messages:
            if message.receipt_handle == receipt_handle:
                return message
        raise ReceiptHandleIsInvalid(receipt_handle)


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
