"""What Lambda hands the handlers: SQS batches from the send queue, scheduled events."""

from __future__ import annotations

from typing import Any, Protocol

from chalice.test import Client

from local.poller import poll_once


class Backend(Protocol):
    """What the flows run on: the in-memory store (tests/support/memory.py) or the embedded AWS
    (tests/support/aws.py); the send queue is read through the calls of an SQS client."""

    name: str
    send_queue_url: str

    def sqs(self) -> Any: ...


def drain(client: Client, backend: Backend, rounds: int = 5) -> int:
    """Hand every visible message of the send queue to the sender handler, as Lambda would:
    real-shaped SQS events, unique messageIds, failed records back after their timeout."""
    import app

    sqs = backend.sqs()
    handled = 0
    for _ in range(rounds):
        count = poll_once(sqs, backend.send_queue_url, lambda event: app.send_worker(event, None))
        if count == 0:
            break
        handled += count
    return handled


def drain_webhooks(backend: Any, rounds: int = 5) -> int:
    """Hand every visible message of the webhook queue to the deliverer handler, as Lambda's
    event source would."""
    import app

    sqs, url = backend.webhook_sqs(), backend.webhook_queue_url
    handled = 0
    for _ in range(rounds):
        count = poll_once(sqs, url, lambda e: app.webhook_deliverer(e, None))
        if count == 0:
            break
        handled += count
    return handled


def lose_webhook_messages(backend: Any) -> int:
    """Take every visible message off the webhook queue unhandled (a hand-over that was lost);
    how many there were."""
    sqs, url = backend.webhook_sqs(), backend.webhook_queue_url
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    if received:
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)
        ]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return len(received)


def run_webhook_sweep() -> dict[str, float]:
    import app

    return app.webhook_sweep(scheduled_event(), None)


def scheduled_event() -> dict[str, Any]:
    """What EventBridge hands a scheduled Lambda."""
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-22T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/submsg-due-sweep"],
        "detail": {},
    }


def run_due_sweep(context: Any = None) -> dict[str, Any]:
    """The scheduled due sweep, then every sweep step it handed on, each to the sweep worker as
    Lambda's event source would: what they did together (``sweeps.SweepReport``'s keys)."""
    import app

    report = dict(app.due_sweep(scheduled_event(), context))
    for worker in drain_sweeps(context):
        for key in ("read", "enqueued", "unknown", "pages"):
            report[key] += worker[key]
        report["lag_s"] = max(report["lag_s"], worker["lag_s"])
        report["stopped"] = report["stopped"] or worker["stopped"]
        report["resumed"] = report["resumed"] or worker["resumed"]
    return report


def drain_sweeps(context: Any = None, invocations: int = 50) -> list[dict[str, Any]]:
    """Hand the sweep queue's visible steps to the sweep worker, one an invocation, until none
    is left (a worker stopped by its budget hands the rest on: a later invocation takes it) or
    ``invocations`` ran; the workers' reports."""
    import app
    from chalicelib import bootstrap

    queue = bootstrap.services().sweeping.sweep_queue
    if queue is None:
        return []
    sqs, url = _client_of(queue)
    reports: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        reports.append(app.sweep_worker(event, context))
        return {}

    # One record an invocation, as the sweep worker's event source (batch size 1) does.
    while len(reports) < invocations and poll_once(sqs, url, invoke, max_records=1):
        pass
    return reports


def _client_of(queue: Any) -> tuple[Any, str]:
    from chalicelib.adapters.memory import MemoryQueue
    from tests.support.memory import SWEEP_QUEUE_NAME, MemorySqs

    if isinstance(queue, MemoryQueue):
        url = f"memory://{SWEEP_QUEUE_NAME}"
        return MemorySqs(queue, f"arn:aws:sqs:us-east-1:123456789012:{SWEEP_QUEUE_NAME}"), url
    return queue.sqs, queue.url


def run_expiry_sweep() -> dict[str, int]:
    import app

    return app.expiry_sweep(scheduled_event(), None)
