"""The outbox: an event is written in the transaction of the move it reports, one delivery per
endpoint listening for its type, and handed to the deliverer's queue once that commits.

Nothing is written for an app none of whose endpoints listens (its endpoints are known to the
container, docs/webhooks.md): such a move costs no request more. A delivery whose hand-over is
lost (a crash after the commit, the queue unavailable) waits on the ``work`` index under a lease;
the webhook sweep finds it there when the lease ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.observability import logger
from chalicelib.domain import clock
from chalicelib.domain.campaign_records import Campaign
from chalicelib.domain.campaigns import Progress
from chalicelib.domain.dispatch import Envelope
from chalicelib.domain.records import Message
from chalicelib.domain.webhooks import Delivery, Endpoint, Event, EventType, Subject
from chalicelib.ports import Name, Transaction, WriteName
from chalicelib.services import webhooks
from chalicelib.services.deps import Core

if TYPE_CHECKING:
    from chalicelib.ports import Write

KIND = "webhook"  # what a delivery's SQS message says it is
EVENT_PREFIX = "evt"
# The message record as a message event keeps it: what the message's answer shows, no more.
MESSAGE_LEFT_OUT = {"data", "credit", "idempotency_key", "page", "conversion_value"}


class Outbox:
    """The events of one transaction: their writes, then their hand-over after the commit."""

    def __init__(
        self,
        core: Core,
        app_id: str,
        now: datetime,
        endpoints: tuple[Endpoint, ...] | None = None,
    ) -> None:
        """``endpoints``: the app's, as the caller read them already (None: read them now)."""
        self.core, self.app_id, self.now = core, app_id, now
        self.endpoints = endpoints
        self.deliveries: list[Delivery] = []

    def add(
        self, event_type: EventType, subject: Subject, data: Mapping[str, Any]
    ) -> dict[Name, Write]:
        """The writes of one event: none when no endpoint of the app listens for its type."""
        if self.endpoints is None:
            self.endpoints = webhooks.endpoints_of(self.core, self.app_id)
        listening = [endpoint for endpoint in self.endpoints if endpoint.listens(event_type)]
        if not listening:
            return {}
        event = Event(
            id=clock.new_id(EVENT_PREFIX),
            app_id=self.app_id,
            type=event_type,
            at=self.now,
            subject=subject,
            data=dict(data),
        )
        lease = webhooks.lease_end(self.core, self.now)
        writes: dict[Name, Write] = {}
        for endpoint in listening:
            delivery = Delivery.of(event, endpoint.id, self.now)
            name = WriteName.WEBHOOK.of(f"{event.id}#{endpoint.id}")
            writes[name] = self.core.store.webhooks.outbox(delivery, lease)
            self.deliveries.append(delivery)
        return writes

    def message(self, event_type: EventType, message: Message) -> dict[Name, Write]:
        data = message.model_dump(mode="json", exclude=MESSAGE_LEFT_OUT)
        return self.add(event_type, Subject.MESSAGE, data)

    def campaign(
        self, event_type: EventType, campaign: Campaign, done: Progress
    ) -> dict[Name, Write]:
        """A campaign's event: the campaign as it is after the move, with its counters."""
        data = {
            "campaign": campaign.model_dump(mode="json"),
            "totals": done.totals,
            "by_variant": done.by_variant,
        }
        return self.add(event_type, Subject.CAMPAIGN, data)

    def into(self, transaction: Transaction, writes: Mapping[Name, Write]) -> None:
        for name, write in writes.items():
            transaction.add(name, write)

    def committed(self) -> None:
        """Hand every delivery to the deliverer now (the sweep retries what is lost here)."""
        hand_over(self.core, self.deliveries)
        self.deliveries = []


def hand_over(core: Core, deliveries: Sequence[Delivery], delay_s: int = 0) -> None:
    queue = core.webhook_queue
    if queue is None or not deliveries:
        return
    envelopes = [Envelope(body=queued(delivery), delay_s=delay_s) for delivery in deliveries]
    try:
        accepted = queue.send_batch(envelopes)
    except Exception:  # the lease brings it back: the sweep enqueues it
        logger.exception("webhook deliveries not enqueued; the sweep will")
        return
    if len(accepted) < len(envelopes):
        logger.warning("webhook deliveries not enqueued; the sweep will")


def queued(delivery: Delivery) -> dict[str, Any]:
    return {"kind": KIND, "delivery": delivery.model_dump(mode="json")}


def from_queued(body: Mapping[str, Any]) -> Delivery:
    return Delivery.model_validate(body["delivery"])
