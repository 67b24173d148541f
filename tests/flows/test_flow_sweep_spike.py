"""The due sweep at spike scale: the scheduled run fans the shards out to the sweep worker over
the sweep queue, each worker sweeps its shards' pages in parallel and in turn, within its time,
and hands what is left on (docs/architecture.md#the-due-sweep)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

import app as app_module
from chalicelib.adapters.store import layout
from chalicelib.services import sweep_marks
from tests.support.clocks import moving_clock, settings_from_now_on
from tests.support.events import drain, drain_sweeps, run_due_sweep, scheduled_event

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: outside quiet hours
DUE = START + timedelta(minutes=10)


@pytest.fixture
def clock():
    """A clock that ticks from START; ``clock.at(t)`` jumps to t and keeps ticking."""
    with moving_clock(START) as moving:
        yield moving


@pytest.fixture
def settings(monkeypatch):
    """``settings(DUE_SHARDS=4, ...)``: SUBMSG_* settings for every container from now on."""
    return settings_from_now_on(monkeypatch)


class LimitedTime:
    """A Lambda context with time for ``pages`` pages: its remaining time runs out after the
    sweep asked ``pages`` times whether it may start one."""

    def __init__(self, pages: int) -> None:
        self.asked, self.pages = 0, pages

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return 20_000 if self.asked <= self.pages else 1_000


def reminders(api, clock, count: int, send_at: datetime = DUE) -> list[str]:
    """``count`` reminders for ``send_at``, granted and created a second apart in batches (the
    app's requests_per_second is 100)."""
    api.put_template()
    ids = []
    for n in range(count):
        if n % 20 == 0:
            clock.at(START + timedelta(seconds=2 * (n // 20)))
        assert api.grant().status_code == 201
        answer = api.send(send_at=send_at.isoformat())
        assert answer.status_code == 201, answer.json_body
        ids.append(answer.json_body["id"])
    return ids


def statuses(api, ids: list[str]) -> Counter[str]:
    return Counter(api.call("GET", f"/v1/messages/{i}").json_body["status"] for i in ids)


def by_shard(ids: list[str], shards: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {shard: [] for shard in range(shards)}
    for message_id in ids:
        found[layout.shard_of(message_id, shards)].append(message_id)
    return found


def sent_ids(wx) -> Counter[str]:
    return Counter(json.loads(json.dumps(card))["page"].split("submsg_id=")[-1] for card in wx.sent)


def test_many_due_across_shards_are_fanned_out_enqueued_once_and_sent_once(
    api, clock, client, backend, wx, settings
):
    settings(DUE_SHARDS=4, SWEEP_PAGE=3)
    ids = reminders(api, clock, 30)
    clock.at(DUE - timedelta(seconds=30))

    report = run_due_sweep()

    assert report["fanned_out"] == 4  # one sweep worker a shard
    assert (report["read"], report["enqueued"], report["stopped"]) == (30, 30, False)
    assert statuses(api, ids) == {"queued": 30}
    assert run_due_sweep()["enqueued"] == 0  # queued within their lease: not again
    clock.at(DUE + timedelta(milliseconds=300))
    assert drain(client, backend, rounds=10) == 30  # one SQS message each, no copy
    assert statuses(api, ids) == {"sent": 30}
    assert sent_ids(wx) == Counter(dict.fromkeys(ids, 1))


def test_a_shard_with_a_backlog_does_not_hold_up_the_others_and_the_rest_is_resumed(
    api, clock, backend, settings
):
    # One worker for all four shards, so they share its time; two pages at a time.
    settings(DUE_SHARDS=4, SWEEP_GROUPS=1, SWEEP_WORKERS=2, SWEEP_PAGE=2)
    ids = reminders(api, clock, 20)
    shards = by_shard(ids, 4)
    backlog = max(shards, key=lambda shard: len(shards[shard]))
    for shard, found in shards.items():  # every other shard: one page at most
        if shard != backlog:
            for message_id in found[2:]:
                assert api.call("DELETE", f"/v1/messages/{message_id}").status_code == 200
            del found[2:]
    assert len(shards[backlog]) >= 5  # three pages or more
    clock.at(DUE - timedelta(seconds=30))

    assert app_module.due_sweep(scheduled_event(), None)["fanned_out"] == 1
    (first,) = drain_sweeps(LimitedTime(pages=4), invocations=1)

    assert (first["pages"], first["stopped"], first["resumed"]) == (4, True, True)
    for shard, found in shards.items():
        if shard != backlog:
            assert statuses(api, found) == Counter(queued=len(found))  # a shard may hold none
    assert statuses(api, shards[backlog]) == {"queued": 2, "scheduled": len(shards[backlog]) - 2}

    (resumed,) = drain_sweeps(None)  # the step it handed on: its unfinished shard only
    assert (resumed["enqueued"], resumed["stopped"]) == (len(shards[backlog]) - 2, False)
    assert statuses(api, shards[backlog]) == {"queued": len(shards[backlog])}


def test_each_run_starts_its_round_at_the_next_shard(api, clock, backend, settings):
    settings(DUE_SHARDS=4, SWEEP_GROUPS=1)
    sweep_queue = backend.sweep_sqs()
    firsts = []
    for minute in range(5):
        clock.at(START + timedelta(minutes=minute, seconds=1))
        app_module.due_sweep(scheduled_event(), None)
        (step,) = sweep_queue.receive_message(
            QueueUrl=backend.sweep_queue_url, MaxNumberOfMessages=10
        )["Messages"]
        receipt = {"Id": "0", "ReceiptHandle": step["ReceiptHandle"]}
        sweep_queue.delete_message_batch(QueueUrl=backend.sweep_queue_url, Entries=[receipt])
        shards = json.loads(step["Body"])["shards"]
        assert sorted(shards) == [0, 1, 2, 3]
        firsts.append(shards[0])
    assert sorted(firsts[:4]) == [0, 1, 2, 3]  # each shard first once in four runs
    assert firsts[4] == firsts[0]


def test_a_crash_between_enqueue_and_marks_sends_every_card_once(
    api, clock, client, backend, wx, settings, monkeypatch
):
    settings(DUE_SHARDS=1)  # one page of 30: two transactions of marks
    ids = reminders(api, clock, 30)
    clock.at(DUE - timedelta(seconds=40))
    original, batches = sweep_marks._mark_batch, []

    def crash_after_the_first_batch(services, moves):
        if batches:
            raise RuntimeError("the sweep worker died between two batches of marks")
        batches.append(len(moves))
        return original(services, moves)

    monkeypatch.setattr(sweep_marks, "_mark_batch", crash_after_the_first_batch)
    with pytest.raises(RuntimeError):
        run_due_sweep()
    monkeypatch.setattr(sweep_marks, "_mark_batch", original)
    assert batches == [sweep_marks.MARK_BATCH]
    assert statuses(api, ids) == {"queued": 25, "scheduled": 5}

    # The next run enqueues the five unmarked again (the failed step is still invisible).
    clock.at(DUE - timedelta(seconds=20))
    assert run_due_sweep()["enqueued"] == 5
    assert statuses(api, ids) == {"queued": 30}
    clock.at(DUE + timedelta(milliseconds=300))
    assert drain(client, backend, rounds=10) == 35  # five copies, found claimed
    assert statuses(api, ids) == {"sent": 30}
    assert sent_ids(wx) == Counter(dict.fromkeys(ids, 1))


def test_a_record_that_is_not_a_sweep_step_is_dropped(backend, settings):
    settings(DUE_SHARDS=4)
    sweep_queue = backend.sweep_sqs()
    for body in ("{}", '{"kind": "due_sweep", "shards": []}', "not json", '{"shards": [99]}'):
        sweep_queue.send_message(QueueUrl=backend.sweep_queue_url, MessageBody=body)
    reports = drain_sweeps(None)
    assert [(r["pages"], r["enqueued"]) for r in reports] == [(0, 0)] * 4
    assert not sweep_queue.receive_message(QueueUrl=backend.sweep_queue_url).get("Messages")
