"""The SQS handler: each record is one delivery or one step of a campaign's fan-out; failures
come back as partial batch responses."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.ports import Services
from chalicelib.services import campaign_fanout, campaign_withdraw, sender
from chalicelib.services.campaign_steps import PAGE_KIND, WITHDRAWAL_KIND

# The steps of a campaign's chains, by kind; any other record is a card to deliver.
STEPS = {
    PAGE_KIND: campaign_fanout.handle_step,
    WITHDRAWAL_KIND: campaign_withdraw.handle_step,
}


def process_batch(services: Services, event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A batch whose every record asks for a retry is normal (WeChat busy), not a Lambda error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handle(record: SQSRecord) -> None:
        body = json.loads(record.body)
        step = STEPS.get(body.get("kind"))
        if step is not None:
            step(services, body)
            return
        delivery = sender.parse_record(
            body,
            int(record.attributes.approximate_receive_count or 1),
            record.receipt_handle,
        )
        sender.deliver(services, delivery)

    # Earliest card first: the sender waits out sub-second delays, which must not hold up
    # others; a campaign's fan-out steps after every card (they are not due at a second).
    ordered = {**event, "Records": sorted(event["Records"], key=_send_at)}
    return process_partial_response(
        event=ordered, record_handler=handle, processor=processor, context=context
    )


def _send_at(record: dict[str, Any]) -> str:
    try:
        body = json.loads(record["body"])
        return "~" if body.get("kind") in STEPS else str(body.get("send_at", ""))
    except (ValueError, AttributeError):
        return ""  # an unreadable record goes first, and fails in the handler
