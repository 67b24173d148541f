"""The deliverer's SQS handler, and each event's body as its receivers get it.

``data`` is rendered here, by the API's own mappers, from what the outbox kept: a message event
carries the message as ``GET /v1/messages/{id}`` answers it. The same delivery renders the same
bytes on every attempt.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.api import mappers
from chalicelib.bootstrap import Services
from chalicelib.domain import clock
from chalicelib.domain.campaign_records import Campaign
from chalicelib.domain.campaigns import Progress
from chalicelib.domain.records import Message
from chalicelib.domain.webhooks import MAX_PAYLOAD_BYTES, Delivery, Subject
from chalicelib.services import webhook_delivery
from chalicelib.services.webhook_outbox import from_queued


def render(delivery: Delivery) -> bytes:
    """``{"type", "timestamp", "data"}`` as compact UTF-8 JSON."""
    data: dict[str, Any] = delivery.data
    if delivery.subject is Subject.MESSAGE:
        message = Message.model_validate({**delivery.data, "data": {}})
        data = mappers.message_out(message).model_dump(mode="json")
    elif delivery.subject is Subject.CAMPAIGN:
        campaign = Campaign.model_validate(delivery.data["campaign"])
        done = Progress(dict(delivery.data["totals"]), dict(delivery.data["by_variant"]))
        data = mappers.campaign_out(campaign, done).model_dump(mode="json", by_alias=True)
    payload = {"type": delivery.type.value, "timestamp": clock.zulu(delivery.at), "data": data}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        trimmed = {**payload, "data": {"id": data.get("id"), "truncated": True}}
        body = json.dumps(trimmed, ensure_ascii=False, separators=(",", ":")).encode()
    return body


def process_batch(services: Services, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Each record is one attempt of one delivery; a failed attempt is recorded and scheduled,
    never raised, so only a record that cannot be handled at all comes back."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handle(record: SQSRecord) -> None:
        delivery = from_queued(json.loads(record.body))
        webhook_delivery.attempt(services.delivering, delivery, render(delivery))

    return process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
