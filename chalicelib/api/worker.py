"""The SQS handlers: on the send queue each record is one delivery or one step of a campaign's
fan-out, failures coming back as partial batch responses, and so do the records the invocation
had no time left for (docs/resilience.md); on the sweep queue each record asks the due sweep to
sweep some shards."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib import deadline
from chalicelib.adapters.observability import logger
from chalicelib.bootstrap import Services
from chalicelib.domain.dispatch import SWEEP_KIND
from chalicelib.services import campaign_fanout, campaign_withdraw, sender, sweeps
from chalicelib.services.campaign_steps import PAGE_KIND, WITHDRAWAL_KIND
from chalicelib.services.send_readiness import LeftForLater

# The steps of a campaign's chains, by kind; any other record is a card to deliver.
STEPS = {
    PAGE_KIND: campaign_fanout.handle_step,
    WITHDRAWAL_KIND: campaign_withdraw.handle_step,
}


def process_batch(services: Services, event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A batch whose every record asks for a retry is normal (WeChat busy), not a Lambda error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handle(record: SQSRecord) -> None:
        if deadline.remaining_s() <= 0:
            raise LeftForLater("no time left in this invocation")
        body = json.loads(record.body)
        step = STEPS.get(body.get("kind"))
        if step is not None:
            step(services.core, body)
            return
        delivery = sender.parse_record(
            body,
            int(record.attributes.approximate_receive_count or 1),
            record.receipt_handle,
        )
        sender.deliver(services.sending, delivery)

    # Earliest card first: the sender waits out sub-second delays, which must not hold up
    # others; a campaign's fan-out steps after every card (they are not due at a second).
    ordered = {**event, "Records": sorted(event["Records"], key=_send_at)}
    settings = services.core.settings
    with deadline.of_lambda(context, settings.lambda_timeout_s, settings.finish_reserve_s):
        return process_partial_response(
            event=ordered, record_handler=handle, processor=processor, context=context
        )


def _send_at(record: dict[str, Any]) -> str:
    try:
        body = json.loads(record["body"])
        return "~" if body.get("kind") in STEPS else str(body.get("send_at", ""))
    except (ValueError, AttributeError):
        return ""  # an unreadable record goes first, and fails in the handler


class SweepStep(BaseModel):
    """What the scheduled due sweep hands its worker (``dispatch.sweep_step``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["due_sweep"] = SWEEP_KIND
    shards: list[Annotated[int, Field(ge=0, le=63)]] = Field(min_length=1, max_length=64)


def process_sweep(services: Services, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sweep the shards each record names, within the Lambda's remaining time. A record that is
    not a sweep step is dropped (nothing would make it one); an error fails the invocation, and
    SQS hands the record over again."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    total = sweeps.SweepReport()
    for record in event["Records"]:
        try:
            step = SweepStep.model_validate_json(record["body"])
        except ValidationError:
            logger.error("not a sweep step; dropped", extra={"record": record.get("messageId")})
            continue
        report = sweeps.sweep_shards(services.sweeping, step.shards, remaining)
        total.read += report.read
        total.enqueued += report.enqueued
        total.unknown += report.unknown
        total.pages += report.pages
        total.lag_s = max(total.lag_s, report.lag_s)
        total.stopped |= report.stopped
        total.resumed |= report.resumed
    return vars(total)
