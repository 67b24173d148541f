"""`webhook_calls_per_event`: the AWS requests one delivered webhook event costs beyond the move
it reports (its hand-over to the webhook queue, the deliverer's record of the attempt), cards
created over the API and sent, their `message.sent` events delivered through the deliverer's SQS
handler (moto in process; WeChat and the receiver answered by `responses`). Cards go ten at a
time, each ten's events delivered right after, as the deliverer's event source hands them on
within a second: a first attempt that soon goes from the queue's copy, unread (an older copy
is read first, a `GetItem` that would show here)."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from bench.harness import (
    LAMBDA_INFRA_CALLS,
    Pipeline,
    aws_environment,
    counting_calls,
    wechat_accepting_everything,
)

RECEIVER = "https://receiver.bench.example/hooks"
CHUNK = 10


@dataclass
class WebhookFigures:
    events: int
    calls_per_event: float
    card_calls_with_endpoint: float  # the card's own requests, an endpoint listening
    calls_by_operation: dict[str, float]


def measure(events: int = 100) -> WebhookFigures:
    received: list[object] = []
    with (
        counting_calls() as counter,
        aws_environment("bench-webhooks") as resources,
        wechat_accepting_everything(RECEIVER, received),
    ):
        pipeline = Pipeline(resources)
        pipeline._call("POST", "/v1/webhooks", {"url": RECEIVER, "events": ["message.sent"]})
        pipeline.grant(events + 1)
        pipeline.create()  # warm the per-container caches, the endpoints' too
        pipeline.drain()
        _deliver(resources.webhook_queue_url)
        counter.start()
        delivered, delivering = 0, set[int]()
        for first in range(0, events, CHUNK):
            for _ in range(min(CHUNK, events - first)):
                pipeline.create()
            pipeline.drain()
            started = len(counter.log)
            delivered += _deliver(resources.webhook_queue_url)
            delivering.update(range(started, len(counter.log)))
        counter.active = False
    if delivered != events or len(received) != events + 1:
        raise RuntimeError(f"delivered {delivered} of {events} events")
    measured = counter.log[counter.measured_from :]
    hooks: dict[str, int] = {}
    card_calls = 0
    for number, recorded in enumerate(measured, start=counter.measured_from):
        if recorded.operation in LAMBDA_INFRA_CALLS:
            continue
        to_webhooks = recorded.params.get("QueueUrl") == resources.webhook_queue_url
        if number in delivering or to_webhooks:
            hooks[recorded.operation] = hooks.get(recorded.operation, 0) + 1
        else:
            card_calls += 1
    return WebhookFigures(
        events=events,
        calls_per_event=sum(hooks.values()) / events,
        card_calls_with_endpoint=card_calls / events,
        calls_by_operation={op: n / events for op, n in sorted(hooks.items())},
    )


def _deliver(queue_url: str) -> int:
    import app as app_module
    from local.poller import poll_once

    sqs = boto3.client("sqs")
    handled = 0
    while count := poll_once(sqs, queue_url, lambda e: app_module.webhook_deliverer(e, None)):
        handled += count
    return handled
