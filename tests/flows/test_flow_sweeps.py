"""Scheduled reminders, the due and expiry sweeps, with a clock that moves
(docs/exactly-once.md#transitions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine

from chalicelib import bootstrap
from chalicelib.services import sweep_marks
from tests.support.clocks import moving_clock
from tests.support.events import drain, run_due_sweep, run_expiry_sweep
from tests.support.tenants import OPENID, TEMPLATE

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: outside quiet hours


@pytest.fixture
def clock():
    """A clock that ticks from START; ``clock.at(t)`` jumps to t and keeps ticking."""
    with moving_clock(START) as moving:
        yield moving


def reminder(api, send_at: datetime, **extra) -> str:
    answer = api.send(send_at=send_at.isoformat(), **extra)
    assert answer.status_code == 201, answer.json_body
    return answer.json_body["id"]


def status(api, message_id: str) -> str:
    return api.call("GET", f"/v1/messages/{message_id}").json_body["status"]


def credits(api) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == TEMPLATE)


def queue_depth(aws) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.send_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


@pytest.fixture
def granted(clock, api):
    api.put_template()
    for _ in range(3):
        api.grant()
    return api


def test_a_reminder_is_enqueued_by_the_sweep_before_it_and_sent_on_time(
    granted, clock, client, backend, wx
):
    send_at = START + timedelta(minutes=10)
    message_id = reminder(granted, send_at)
    assert status(granted, message_id) == "scheduled"
    assert run_due_sweep()["enqueued"] == 0

    clock.at(send_at - timedelta(seconds=30))
    assert run_due_sweep()["enqueued"] == 1
    assert status(granted, message_id) == "queued"
    assert drain(client, backend) == 0  # delayed in SQS until send_at

    clock.at(send_at + timedelta(milliseconds=200))
    assert drain(client, backend) == 1
    assert status(granted, message_id) == "sent"
    assert len(wx.sent) == 1


def test_a_reminder_due_before_the_next_sweep_is_enqueued_at_once_with_a_delay(
    granted, clock, client, aws, wx
):
    message_id = reminder(granted, START + timedelta(seconds=20))
    assert status(granted, message_id) == "queued"
    assert queue_depth(aws) == 1
    clock.at(START + timedelta(seconds=21))
    drain(client, aws)
    assert status(granted, message_id) == "sent"


def test_the_sweep_reads_only_what_is_due_whatever_waits_later(granted, clock, api, services):
    for _ in range(20):
        api.grant()
    for minutes in range(20):
        reminder(granted, START + timedelta(days=1, minutes=minutes))
    due = [reminder(granted, START + timedelta(minutes=5)) for _ in range(3)]
    clock.at(START + timedelta(minutes=4, seconds=30))
    report = run_due_sweep()
    assert (report["read"], report["enqueued"]) == (3, 3)
    assert {status(granted, m) for m in due} == {"queued"}


def test_messages_in_every_shard_are_found(granted, clock, api, monkeypatch):
    monkeypatch.setenv("SUBMSG_DUE_SHARDS", "4")
    bootstrap.reset()  # settings are read once per container
    for _ in range(12):
        api.grant()
    ids = [reminder(granted, START + timedelta(minutes=5)) for _ in range(12)]
    clock.at(START + timedelta(minutes=4, seconds=30))
    assert run_due_sweep()["enqueued"] == 12
    assert {status(granted, m) for m in ids} == {"queued"}


def test_a_lost_sqs_message_is_found_again_after_its_lease(granted, clock, client, aws, wx):
    message_id = granted.send().json_body["id"]
    boto3.client("sqs").purge_queue(QueueUrl=aws.send_queue_url)
    assert run_due_sweep()["enqueued"] == 0  # still within its lease
    clock.at(START + timedelta(seconds=90))
    assert run_due_sweep()["enqueued"] == 1
    drain(client, aws)
    assert status(granted, message_id) == "sent"
    assert len(wx.sent) == 1


def test_a_card_still_queued_is_enqueued_again_less_and_less_often(
    granted, clock, client, backend, wx
):
    """A long queue, not a lost message: each copy waits as long as the card has waited."""
    message_id = granted.send().json_body["id"]
    copies = []
    for seconds in range(30, 500, 30):
        # Each sweep at its instant exactly: the lease it sets is twice the card's age then.
        with time_machine.travel(START + timedelta(seconds=seconds), tick=False):
            if run_due_sweep()["enqueued"]:
                copies.append(seconds)
    clock.at(START + timedelta(seconds=500))
    # Sweeps every 30 s: the first after its 60 s lease, then at twice the age each time
    # (one a minute would be 8 copies).
    assert copies == [90, 180, 360]
    drain(client, backend)
    assert status(granted, message_id) == "sent"
    assert len(wx.sent) == 1


def test_overlapping_sweeps_and_a_crash_between_enqueue_and_mark_send_once(
    granted, clock, client, aws, wx, monkeypatch
):
    message_id = reminder(granted, START + timedelta(minutes=5))
    clock.at(START + timedelta(minutes=4, seconds=40))
    original = sweep_marks.mark_queued

    def crash_before_mark(services, enqueued, now):
        assert enqueued, "only a page with due messages is enqueued and marked"
        raise RuntimeError("the sweep died after enqueueing")

    monkeypatch.setattr(sweep_marks, "mark_queued", crash_before_mark)
    with pytest.raises(RuntimeError):
        run_due_sweep()
    monkeypatch.setattr(sweep_marks, "mark_queued", original)
    run_due_sweep()
    run_due_sweep()  # an overlapping sweep finds it queued within its lease: nothing new
    assert queue_depth(aws) == 2
    clock.at(START + timedelta(minutes=5, seconds=1))
    drain(client, aws)
    assert status(granted, message_id) == "sent"
    assert len(wx.sent) == 1


def test_a_claim_that_never_finished_becomes_unknown_and_is_not_resent(
    granted, clock, client, backend, wx, monkeypatch
):
    from chalicelib.services import sender

    message_id = granted.send().json_body["id"]
    original = sender._send
    monkeypatch.setattr(sender, "_send", lambda *a: (_ for _ in ()).throw(SystemExit("died")))
    with pytest.raises(SystemExit):
        drain(client, backend)
    monkeypatch.setattr(sender, "_send", original)
    clock.at(START + timedelta(minutes=3))
    assert run_due_sweep()["unknown"] == 1
    clock.at(START + timedelta(minutes=6))
    drain(client, backend)
    assert status(granted, message_id) == "unknown"
    assert wx.sent == []
    assert credits(granted) == 2  # not refunded: WeChat may have delivered


def test_moving_a_message_after_the_sweep_read_it_sends_it_at_the_new_time_only(
    granted, clock, client, backend, wx, monkeypatch
):
    message_id = reminder(granted, START + timedelta(minutes=5))
    clock.at(START + timedelta(minutes=4, seconds=30))
    original = sweep_marks.mark_queued

    def patch_in_between(services, enqueued, now):
        moved = granted.call(
            "PATCH",
            f"/v1/messages/{message_id}",
            {"send_at": (START + timedelta(hours=2)).isoformat()},
        )
        assert moved.status_code == 200
        return original(services, enqueued, now)

    monkeypatch.setattr(sweep_marks, "mark_queued", patch_in_between)
    assert run_due_sweep()["enqueued"] == 0
    monkeypatch.setattr(sweep_marks, "mark_queued", original)
    clock.at(START + timedelta(minutes=5, seconds=1))
    drain(client, backend)
    assert status(granted, message_id) == "scheduled"
    assert wx.sent == []
    clock.at(START + timedelta(hours=2) - timedelta(seconds=30))
    run_due_sweep()
    clock.at(START + timedelta(hours=2, seconds=1))
    drain(client, backend)
    assert status(granted, message_id) == "sent"
    assert len(wx.sent) == 1


def test_canceling_a_queued_reminder_stops_the_copy_in_sqs(granted, clock, client, backend, wx):
    message_id = reminder(granted, START + timedelta(seconds=30))
    assert status(granted, message_id) == "queued"
    assert granted.call("DELETE", f"/v1/messages/{message_id}").status_code == 200
    clock.at(START + timedelta(seconds=31))
    drain(client, backend)
    assert status(granted, message_id) == "canceled"
    assert wx.sent == []
    assert credits(granted) == 3


def test_expired_credits_are_ignored_at_once_and_swept_into_the_statistics(clock, api):
    api.put_template(grant_ttl_days=1)
    api.grant()
    api.put_template("TplForever00000000000000000000000000000001", grant_ttl_days=0)
    api.grant(template_id="TplForever00000000000000000000000000000001")
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    expiry = next(i["next_expiry"] for i in items if i["template_id"] == TEMPLATE)
    assert datetime.fromisoformat(expiry) - START < timedelta(days=1, minutes=1)
    clock.at(datetime.fromisoformat(expiry) + timedelta(seconds=1))
    assert api.send().json_body["error"]["code"] == "no_grant"  # before any sweep
    report = run_expiry_sweep()
    assert (report["read"], report["expired"]) == (1, 1)
    assert run_expiry_sweep()["expired"] == 0
    day = START.date().isoformat()
    to_day = (START + timedelta(days=1)).date().isoformat()
    totals = api.call("GET", f"/v1/stats?from={day}&to={to_day}").json_body["totals"]
    assert totals["grants_expired"] == 1
    forever = api.send(template_id="TplForever00000000000000000000000000000001")
    assert forever.status_code == 201


def test_times_are_stored_in_utc_whatever_offset_the_client_used(granted):
    shanghai = "2026-11-23T18:30:00+08:00"
    message_id = granted.send(send_at=shanghai).json_body["id"]
    found = granted.call("GET", f"/v1/messages/{message_id}").json_body
    assert found["send_at"] == "2026-11-23T10:30:00.000Z"
