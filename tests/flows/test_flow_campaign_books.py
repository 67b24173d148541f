"""Campaign books that always close (docs/campaigns.md#counters): a user erased during a campaign, a
cancel that withdraws every card at once, the throttle after quiet hours; through the real routes,
the SQS handler and the due sweep."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib import bootstrap
from chalicelib.services import admin
from chalicelib.services.caches import Entry
from tests.flows.test_flow_campaigns import (
    PROMO,
    adds_up,
    busiest_minute,
    campaign,
    create,
    grant_all,
    promo_template,
    run,
    send_times,
    until_done,
    users,
)
from tests.support.tiers import MEMORY_ONLY

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def promo(api, services, monkeypatch):
    return promo_template(api, services, monkeypatch)


# Erasing a user during a campaign ------------------------------------------------------------


def credits_of(api, openid: str) -> int:
    items = api.call("GET", f"/v1/users/{openid}/subscriptions").json_body["items"]
    return next(item["credits"] for item in items if item["template_id"] == PROMO)


def test_a_recipient_erased_before_the_start_is_counted_canceled_and_the_campaign_completes(
    api, wx, client, backend, promo, pinned_clock
):
    kept, erased = users(2, "oErasedEarly")
    grant_all(api, [kept, erased])
    draft = create(api, audience={"openids": [kept, erased]}, start=False).json_body
    assert api.call("DELETE", f"/v1/users/{erased}").status_code == 204
    assert api.call("POST", f"/v1/campaigns/{draft['id']}/start").status_code == 200

    found = until_done(client, backend, api, draft["id"], pinned_clock, step_s=20)

    assert found["status"] == "completed"
    assert (found["audience_size"], found["sent"], found["canceled"]) == (2, 1, 1)
    adds_up(found)
    assert [card["touser"] for card in wx.sent] == [kept]


def test_a_user_erased_between_their_card_and_its_send_gets_nothing_and_is_counted_canceled(
    api, wx, client, backend, promo, pinned_clock
):
    listed = users(2, "oErasedLate")
    grant_all(api, listed)
    campaign_id = create(api, audience={"openids": listed}, rate_per_minute=1).json_body["id"]
    run(client, backend)  # both cards written; the second waits for its slot, a minute on
    written = campaign(api, campaign_id)
    assert (written["created"], written["sent"]) == (2, 1)
    (first,) = [card["touser"] for card in wx.sent]
    (waiting,) = set(listed) - {first}
    assert api.call("DELETE", f"/v1/users/{waiting}").status_code == 204
    erased = campaign(api, campaign_id)
    assert (erased["sent"], erased["canceled"]) == (1, 1)  # at once, not at its slot

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=30)

    assert found["status"] == "completed"
    adds_up(found)
    assert [card["touser"] for card in wx.sent] == [first]


# Cancel withdraws every card at once -----------------------------------------------------------


def campaign_cards(api, openids) -> list[dict]:
    return [
        message
        for openid in openids
        for message in api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
    ]


def balanced(found: dict) -> None:
    skipped = sum(found["skipped"].values())
    assert found["sent"] + found["failed"] + skipped + found["canceled"] == found["audience_size"]
    assert found["pending"] == 0


def evening_holders(api, count: int, prefix: str) -> list[str]:
    """Holders active every evening at 19:00 (Shanghai): a best-time card waits for it."""
    from tests.flows.test_flow_engagement import activity

    holders = users(count, prefix)
    for openid in holders:
        assert activity(api, openid, [19]).status_code == 202
    grant_all(api, holders)
    return holders


def test_a_throttled_campaign_canceled_withdraws_its_cards_written_ahead_at_once(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(30, "oThrottled")
    grant_all(api, holders)
    campaign_id = create(api, rate_per_minute=6).json_body["id"]  # a slot every 10 s
    run(client, backend)  # the cards of the next 60 s are written; the first ones go
    before = campaign(api, campaign_id)
    waiting = [c for c in campaign_cards(api, holders) if c["status"] in ("scheduled", "queued")]
    assert len(waiting) >= 4, before  # written ahead on their slots, their credits reserved

    canceled = api.call("POST", f"/v1/campaigns/{campaign_id}/cancel")
    assert canceled.status_code == 200, canceled.json_body
    run(client, backend)  # the withdrawal's steps; the clock moves on by a second or two

    found = campaign(api, campaign_id)
    assert found["status"] == "canceled"
    balanced(found)
    assert found["sent"] == len(wx.sent) < 30
    cards = campaign_cards(api, holders)
    assert {c["status"] for c in cards} <= {"sent", "canceled"}
    assert sum(credits_of(api, openid) for openid in holders) == 30 - len(wx.sent)

    pinned_clock.shift(200)  # fan-out steps under way at the cancel had their lease to end
    run(client, backend)
    closed = campaign(api, campaign_id)
    assert closed["completed_at"] is not None
    assert closed["status"] == "canceled"
    assert (closed["sent"], closed["canceled"]) == (found["sent"], found["canceled"])


def test_a_best_time_campaign_canceled_gives_back_the_credits_of_cards_waiting_for_the_evening(
    api, wx, client, backend, promo, pinned_clock
):
    holders = evening_holders(api, 6, "oEvening")
    campaign_id = create(api, best_time={"within_hours": 24}).json_body["id"]
    run(client, backend)
    cards = campaign_cards(api, holders)
    assert [c["status"] for c in cards] == ["scheduled"] * 6  # at 19:00, 18 hours on
    assert sum(credits_of(api, openid) for openid in holders) == 0

    assert api.call("POST", f"/v1/campaigns/{campaign_id}/cancel").status_code == 200
    run(client, backend)

    found = campaign(api, campaign_id)
    assert (found["created"], found["sent"], found["canceled"]) == (6, 0, 6)
    balanced(found)
    assert [c["status"] for c in campaign_cards(api, holders)] == ["canceled"] * 6
    assert all(credits_of(api, openid) == 1 for openid in holders)
    assert wx.sent == []


def test_cards_written_by_a_step_under_way_at_the_cancel_are_withdrawn_once_its_lease_ends(
    api, wx, client, backend, promo, pinned_clock, monkeypatch
):
    listed = evening_holders(api, 6, "oLateStep")
    campaign_id = create(
        api, audience={"openids": listed}, best_time={"within_hours": 24}, start=False
    ).json_body["id"]
    recipients = bootstrap.services().core.store.campaigns
    read_page, canceled = recipients.pending, []

    def canceled_under_way(campaign, shard, limit, start, *state):
        page = read_page(campaign, shard, limit, start, *state)
        if page[0] and not state and not canceled:
            # This step saw the campaign running; the cancel and its whole withdrawal happen
            # now, before the step writes its page's cards.
            canceled.append(api.call("POST", f"/v1/campaigns/{campaign_id}/cancel"))
            run(client, backend)
        return page

    monkeypatch.setattr(recipients, "pending", canceled_under_way)
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/start").status_code == 200
    run(client, backend)
    assert canceled[0].status_code == 200
    late = [c for c in campaign_cards(api, listed) if c["status"] == "scheduled"]
    assert late  # written behind the withdrawal, for 19:00

    pinned_clock.shift(130)  # the step's lease has ended: one more pass, then the books close
    run(client, backend)

    found = campaign(api, campaign_id)
    assert found["completed_at"] is not None
    balanced(found)
    assert {c["status"] for c in campaign_cards(api, listed)} == {"canceled"}
    assert all(credits_of(api, openid) == 1 for openid in listed)


def test_a_withdrawal_whose_steps_were_lost_is_started_again_by_the_tick(
    api, wx, client, backend, promo, pinned_clock, monkeypatch
):
    listed = evening_holders(api, 4, "oLostStep")
    body = {"audience": {"openids": listed}, "best_time": {"within_hours": 24}}
    campaign_id = create(api, **body).json_body["id"]
    run(client, backend)
    queue = bootstrap.services().core.queue
    send_batch = queue.send_batch

    def loses_the_withdrawal(envelopes):
        kept = [e for e in envelopes if e.body.get("kind") != "campaign_withdrawal"]
        return send_batch(kept) if kept else set()

    monkeypatch.setattr(queue, "send_batch", loses_the_withdrawal)
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/cancel").status_code == 200
    monkeypatch.setattr(queue, "send_batch", send_batch)
    run(client, backend)
    assert campaign(api, campaign_id)["canceled"] == 0  # nothing withdrawn yet

    pinned_clock.shift(200)  # the chains stood still past their lease: a new generation
    run(client, backend)

    found = campaign(api, campaign_id)
    assert found["canceled"] == 4
    balanced(found)
    assert all(credits_of(api, openid) == 1 for openid in listed)


# The throttle after quiet hours ------------------------------------------------------------------


@MEMORY_ONLY("quiet hours and the throttle: times the service computes")
def test_cards_deferred_by_quiet_hours_keep_the_throttle_when_the_hours_end(
    api, wx, client, backend, promo, services, pinned_clock
):
    quiet = {"start": "22:00", "end": "08:00"}  # the clock says 00:30 in Shanghai
    admin.update_app(services.core, api.tenant.app_id, {"quiet_hours": quiet})
    bootstrap.services().core.catalog_cache.forget(Entry.APP, api.tenant.app_id)
    holders = users(20, "oNightOwl")
    grant_all(api, holders)
    campaign_id = create(api, rate_per_minute=6).json_body["id"]  # a slot every 10 s

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=1800)

    assert found["sent"] == 20
    adds_up(found)
    moments = send_times(api, holders)
    window_end = datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
    assert min(moments) >= window_end
    assert busiest_minute(moments) <= 1.1 * 6 + 10
    assert min(b - a for a, b in itertools.pairwise(moments)) >= timedelta(seconds=10)
