"""Webhook endpoints over days of failures, on the in-memory backend only: the embedded AWS's
SQS (moto) stops answering a queue once a message in it outlives the retention period, which
these tests' clock jumps of days do."""

from __future__ import annotations

import pytest

from tests.support.events import drain_webhooks
from tests.support.webhooks import Receiver, create_endpoint, deliveries


@pytest.fixture
def receiver(wx) -> Receiver:
    return Receiver(wx.mock)


def test_an_endpoint_failing_for_five_days_is_disabled_with_its_reason(
    api, backend, receiver, pinned_clock
):
    endpoint = create_endpoint(api)
    base = f"/v1/webhooks/{endpoint['id']}"
    receiver.answers = [500] * 50
    api.call("POST", f"{base}/test")
    drain_webhooks(backend)
    assert api.call("GET", base).json_body["status"] == "enabled"
    pinned_clock.shift(4 * 86400)
    api.call("POST", f"{base}/test")
    drain_webhooks(backend)
    assert api.call("GET", base).json_body["status"] == "enabled"  # 4 days: not yet
    pinned_clock.shift(86400 + 60)
    api.call("POST", f"{base}/test")
    drain_webhooks(backend)
    shown = api.call("GET", base).json_body
    assert (shown["status"], shown["disabled_reason"]) == (
        "disabled",
        "every delivery failed for 5 days",
    )
    newest = deliveries(api, endpoint["id"])[0]
    assert newest["status"] == "failed"  # its attempt disabled it, or it found it disabled


def test_a_success_after_failures_forgets_when_the_endpoint_began_failing(
    api, backend, receiver, pinned_clock
):
    endpoint = create_endpoint(api)
    base = f"/v1/webhooks/{endpoint['id']}"
    receiver.answers = [500]
    api.call("POST", f"{base}/test")
    drain_webhooks(backend)
    pinned_clock.shift(7)
    drain_webhooks(backend)  # the retry succeeds
    pinned_clock.shift(5 * 86400)
    receiver.answers = [500]
    api.call("POST", f"{base}/test")
    drain_webhooks(backend)
    assert api.call("GET", base).json_body["status"] == "enabled"
