"""Shard counts are settings that may change either way: the sweeps read every shard an item
may sit in, so lowering ``SUBMSG_DUE_SHARDS`` or ``SUBMSG_EXPIRY_SHARDS`` strands nothing
(docs/storage.md#shard-counts)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.store import layout
from chalicelib.services.shard_plan import LOWERING_GRACE_S, ShardedIndex
from tests.support.clocks import moving_clock, settings_from_now_on
from tests.support.events import drain, run_due_sweep, run_expiry_sweep

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: outside quiet hours
LATER = START + timedelta(hours=2)
USERS = [f"oShardUser{n:03d}" for n in range(16)]


@pytest.fixture
def clock():
    """A clock that ticks from START; ``clock.at(t)`` jumps to t and keeps ticking."""
    with moving_clock(START) as moving:
        yield moving


@pytest.fixture
def settings(monkeypatch):
    """``settings(DUE_SHARDS=4, ...)``: SUBMSG_* settings for every container from now on."""
    return settings_from_now_on(monkeypatch)


def reminders(api, count: int) -> list[str]:
    ids = []
    for openid in USERS[:count]:
        assert api.grant(openid).status_code == 201
        answer = api.send(openid, send_at=LATER.isoformat())
        assert answer.status_code == 201, answer.json_body
        ids.append(answer.json_body["id"])
    return ids


def statuses(api, ids: list[str]) -> Counter[str]:
    return Counter(api.call("GET", f"/v1/messages/{i}").json_body["status"] for i in ids)


def above(ids: list[str], written: int, kept: int) -> int:
    return sum(layout.shard_of(i, written) >= kept for i in ids)


def test_reminders_written_over_more_shards_are_sent_after_the_count_is_lowered(
    api, clock, client, backend, wx, settings
):
    settings(DUE_SHARDS=8)
    api.put_template()
    ids = reminders(api, 16)
    assert above(ids, 8, 2) >= 8  # most sit in shards the lowered count no longer writes
    settings(DUE_SHARDS=2)  # no sweep ran since they were written: nothing recorded yet
    clock.at(LATER - timedelta(seconds=30))

    report = run_due_sweep()

    # every shard that may hold one is read: up to the last one found holding one
    assert report["fanned_out"] == max(layout.shard_of(i, 8) for i in ids) + 1
    assert (report["read"], report["enqueued"]) == (16, 16)
    clock.at(LATER + timedelta(seconds=1))
    drain(client, backend, rounds=10)
    assert statuses(api, ids) == {"sent": 16}
    assert len(wx.sent) == 16


def test_the_lowered_count_is_read_once_the_shards_above_it_stayed_empty(
    api, clock, client, backend, wx, settings
):
    settings(DUE_SHARDS=8)
    api.put_template()
    ids = reminders(api, 16)
    assert run_due_sweep()["fanned_out"] == 8
    settings(DUE_SHARDS=2)
    assert api.grant(USERS[0]).status_code == 201
    newer = api.send(USERS[0], send_at=(LATER + timedelta(hours=2)).isoformat()).json_body["id"]

    clock.at(LATER - timedelta(seconds=30))
    assert run_due_sweep()["fanned_out"] == 8  # the old shards still hold reminders
    clock.at(LATER + timedelta(seconds=1))
    drain(client, backend, rounds=10)
    assert statuses(api, ids) == {"sent": 16}

    marks = bootstrap.services().core.store.shard_marks
    assert run_due_sweep()["fanned_out"] == 8  # empty now, but an old container may write
    assert marks.read(ShardedIndex.DUE).shards == 8
    clock.at(LATER + timedelta(seconds=LOWERING_GRACE_S - 60))
    assert run_due_sweep()["fanned_out"] == 8
    clock.at(LATER + timedelta(seconds=LOWERING_GRACE_S + 120))
    run_due_sweep()  # empty for the whole grace: the count is lowered
    assert marks.read(ShardedIndex.DUE).shards == 2
    assert run_due_sweep()["fanned_out"] == 2
    clock.at(LATER + timedelta(hours=2, seconds=-30))
    assert run_due_sweep()["enqueued"] == 1  # written at the lowered count
    clock.at(LATER + timedelta(hours=2, seconds=1))
    drain(client, backend)
    assert statuses(api, [newer]) == {"sent": 1}


def test_an_item_left_in_an_old_shard_restarts_the_grace(api, clock, backend, settings):
    settings(DUE_SHARDS=8)
    api.put_template()
    ids = reminders(api, 16)
    run_due_sweep()  # recorded: 8
    settings(DUE_SHARDS=2)
    marks = bootstrap.services().core.store.shard_marks
    clock.at(START + timedelta(seconds=LOWERING_GRACE_S + 60))
    run_due_sweep()
    assert marks.read(ShardedIndex.DUE).shards == 8  # not empty: never lowered
    assert marks.read(ShardedIndex.DUE).empty_since_ms is None
    assert statuses(api, ids) == {"scheduled": 16}


def test_credits_written_over_more_expiry_shards_still_expire_after_lowering(api, clock, settings):
    settings(EXPIRY_SHARDS=8)
    api.put_template(grant_ttl_days=1)
    for openid in USERS:
        assert api.grant(openid).status_code == 201
    settings(EXPIRY_SHARDS=1)
    clock.at(START + timedelta(days=1, minutes=2))

    report = run_expiry_sweep()

    assert (report["read"], report["expired"]) == (16, 16)
    day, to_day = START.date().isoformat(), (START + timedelta(days=1)).date().isoformat()
    totals = api.call("GET", f"/v1/stats?from={day}&to={to_day}").json_body["totals"]
    assert totals["grants_expired"] == 16
    # recorded up to the last shard found in use (credit ids are random), not lowered yet
    assert 1 < bootstrap.services().core.store.shard_marks.read(ShardedIndex.EXPIRY).shards <= 8
