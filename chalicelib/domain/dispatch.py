"""Handing messages to the send queue: the snapshot an SQS message carries, and its delay."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.records import Message

MAX_DELAY_S = 900  # SQS DelaySeconds
SWEEP_KIND = "due_sweep"


@dataclass(frozen=True)
class Envelope:
    """What one queued message carries: the snapshot of a message to deliver, and its delay."""

    body: dict[str, Any]
    delay_s: int = 0


SNAPSHOT_EXCLUDE = {
    "status",
    "result",
    "sent_at",
    "clicked_at",
    "converted_at",
    "conversion_value",
    "idempotency_key",
}


def envelope(message: Message, now: datetime) -> Envelope:
    """The SQS message for ``message``, delayed to arrive within the second before ``send_at``.

    DelaySeconds counts whole seconds; the sender waits out the fraction (see sender.deliver).
    """
    delay = math.floor((message.send_at - now).total_seconds())
    return Envelope(
        body=message.model_dump(mode="json", exclude=SNAPSHOT_EXCLUDE, exclude_none=True),
        delay_s=max(0, min(MAX_DELAY_S, delay)),
    )


def from_envelope(body: dict[str, object]) -> Message:
    return Message.model_validate({**body, "status": "queued"})


def within_lookahead(send_at: datetime, now: datetime, lookahead_s: int) -> bool:
    """Due before the next sweep can see it: enqueue it now, with a delay."""
    return send_at <= now + timedelta(seconds=lookahead_s)


def sweep_step(shards: list[int]) -> Envelope:
    """The sweep queue's message: sweep these shards of the needs-work index now."""
    return Envelope(body={"kind": SWEEP_KIND, "shards": list(shards)})
