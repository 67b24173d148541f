"""SQS that reads the clock cheaply, and SQS's faults.

- ``moto.sqs.models.unix_time`` / ``unix_time_millis``: moto reads the clock through ``datetime``
  arithmetic several times per message held; here as ``time.time()`` (the same instant).
- ``SQSBackend.is_message_valid_based_on_retention_period``: moto computes every queue attribute
  (three counts over all messages) once per message received to read the retention period; here
  it is read as it is stored (a receive from 2 000 messages cost tens of milliseconds).
- ``SQSBackend.send_message`` and ``Queue.attributes``: a send computed every attribute of its
  queue to read one (is content-based deduplication on?); here it reads that one.
- ``SQSBackend.delete_message_batch``: moto walks the queue twice per receipt handle; here once
  per batch.
- ``SQSResponse.call_action`` (every SQS request): wrapped to inject ``sqs_error`` (an HTTP 500,
  nothing applied) and ``sqs_lost`` (a send applied, its answer an HTTP 500: botocore sends it
  again, and it lands twice), at the rates of ``local.aws.faults``.
"""

from __future__ import annotations

import contextvars
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from moto.core.utils import camelcase_to_underscores
from moto.sqs import models as sqs_models
from moto.sqs.models import Message as SqsMessage
from moto.sqs.models import Queue as SqsQueue
from moto.sqs.models import SQSBackend
from moto.sqs.responses import SQSResponse

from local.aws import faults
from local.aws.originals import Patch, original, replace_with

SENDS = frozenset({"SendMessage", "SendMessageBatch"})


def unix_time(moment: Any = None) -> float:
    """moto's ``unix_time``: seconds since the epoch, of ``moment`` (naive UTC) or of now."""
    return original["unix_time"](moment) if moment is not None else time.time()


def unix_time_millis(moment: Any = None) -> float:
    return unix_time(moment) * 1000.0


def is_message_valid_based_on_retention_period(
    self: SQSBackend, queue_name: str, message: SqsMessage
) -> bool:
    retention_s = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_s + message.sent_timestamp / 1000 > time.time())


_sending: contextvars.ContextVar[bool] = contextvars.ContextVar("sending", default=False)


def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> SqsMessage:
    token = _sending.set(True)
    try:
        return original["send_message"](self, *args, **kwargs)
    finally:
        _sending.reset(token)


def queue_attributes(self: SqsQueue) -> dict[str, Any]:
    """moto's ``Queue.attributes``; while a message is sent, only the one the send reads."""
    if not _sending.get():
        return original["attributes"].fget(self)  # type: ignore[no-any-return]
    if not self.fifo_queue:
        return {}  # moto lists ContentBasedDeduplication for FIFO queues only
    value = getattr(self, camelcase_to_underscores("ContentBasedDeduplication"))
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def delete_message_batch(
    self: SQSBackend, queue_name: str, receipts: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, str]]]:
    """moto's batch delete in one walk of the queue; a handle no message ever had is answered
    by moto's own delete (its error)."""
    queue = self.get_queue(queue_name)
    wanted = {receipt["ReceiptHandle"] for receipt in receipts} - queue.deleted_messages
    if wanted:
        kept = []
        for message in queue._messages:
            handles = message.all_receipt_handles
            if wanted.isdisjoint(handles):
                kept.append(message)
            else:
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(handles)
        queue._messages = kept
    success: list[str] = []
    errors: list[dict[str, str]] = []
    for receipt in receipts:
        if receipt["ReceiptHandle"] in queue.deleted_messages:
            success.append(receipt["Id"])
        else:
            done, failed = original["delete_message_batch"](self, queue_name, [receipt])
            success += done
            errors += failed
    return success, errors


def _internal_error() -> tuple[int, dict[str, Any], str]:
    body = json.dumps({"__type": "InternalError", "message": "We encountered an internal error."})
    headers = {"status": "500", "Content-Type": "application/x-amz-json-1.0"}
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return 500, headers, body


def faulty(moto_call_action: Callable[[SQSResponse], Any]) -> Callable[[SQSResponse], Any]:
    def call_action(self: SQSResponse) -> Any:
        injector = faults.active()
        if injector.draw("sqs_error"):
            return _internal_error()
        answer = moto_call_action(self)
        ok = not isinstance(answer, tuple) or int(answer[0]) == 200
        if ok and self._get_action() in SENDS and injector.draw("sqs_lost"):
            return _internal_error()
        return answer

    return call_action


PATCHES = (
    Patch(sqs_models, "unix_time", replace_with(unix_time)),
    Patch(sqs_models, "unix_time_millis", replace_with(unix_time_millis)),
    Patch(SQSBackend, "send_message", replace_with(send_message)),
    Patch(SQSBackend, "delete_message_batch", replace_with(delete_message_batch)),
    Patch(SqsQueue, "attributes", lambda _: property(queue_attributes)),
    Patch(
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        replace_with(is_message_valid_based_on_retention_period),
    ),
    Patch(SQSResponse, "call_action", faulty),
)
