"""Campaigns through the real routes, SQS handler and due sweep (docs/campaigns.md): audiences, each
recipient exactly once, progress that adds up, pause, resume, cancel, the throttle, experiments."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib import bootstrap
from tests.support.events import drain, run_due_sweep, scheduled_event
from tests.support.tiers import MEMORY_ONLY

PROMO = "TplPromotion000000000000000000000000000001"
DATA = {"thing1": "Winter sale", "character_string2": "SALE-2026"}


@pytest.fixture
def promo(api, services, monkeypatch):
    return promo_template(api, services, monkeypatch)


def promo_template(api, services, monkeypatch) -> str:
    """The reminder template of these campaigns, on an app that takes many grants a second."""
    monkeypatch.setenv("SUBMSG_CAMPAIGN_STATUS_CACHE_S", "0")  # a pause is seen at once
    monkeypatch.setenv("SUBMSG_CAMPAIGN_PAGE", "10")  # several pages per chain
    app = services.core.store.catalog.get_app(api.tenant.app_id)
    # The tests grant to many users at once: more than the default 100 requests a second.
    services.core.store.catalog.put_app(app.model_copy(update={"requests_per_second": 10_000}))
    bootstrap.reset()
    answer = api.put_template(PROMO, title="Promotion", category="reminder")
    assert answer.status_code == 201, answer.json_body
    return PROMO


def users(count: int, prefix: str = "oCampaignUser") -> list[str]:
    return [f"{prefix}{n:05d}" for n in range(count)]


def grant_all(api, openids, template=PROMO) -> None:
    for openid in openids:
        assert api.grant(openid, template).status_code == 201


def create(api, **fields):
    body = {
        "name": "Winter sale",
        "template_id": PROMO,
        "audience": {"holders": {}},
        "data": DATA,
        "page": "pages/sale/index",
        **fields,
    }
    return api.call("POST", "/v1/campaigns", body)


def campaign(api, campaign_id: str) -> dict:
    answer = api.call("GET", f"/v1/campaigns/{campaign_id}")
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


def run(client, backend, rounds: int = 30, idle_rounds: int = 3) -> None:
    """What Lambda and EventBridge would do: hand out every queued record, sweep, repeat; until
    no campaign is left to watch, or ``idle_rounds`` in a row handed out and enqueued nothing
    (what is left waits for the clock: the caller moves it and runs again)."""
    idle = 0
    for _ in range(rounds):
        handled = drain(client, backend, rounds=20)
        report = run_due_sweep()
        if handled == 0 and report["enqueued"] == 0 and report["campaigns"] == 0:
            return
        idle = idle + 1 if handled == 0 and report["enqueued"] == 0 else 0
        if idle == idle_rounds:
            return


def until_done(client, backend, api, campaign_id: str, traveller, step_s: float = 0) -> dict:
    for _ in range(60):
        run(client, backend)
        found = campaign(api, campaign_id)
        if found["completed_at"] is not None:
            return found
        if step_s:
            traveller.shift(step_s)
    raise AssertionError(f"campaign never completed: {found}")


def adds_up(found: dict) -> None:
    skipped = sum(found["skipped"].values())
    total = found["sent"] + found["failed"] + skipped + found["canceled"]
    assert total == found["audience_size"], found
    assert found["pending"] == 0


def cards_per_user(wx) -> Counter:
    return Counter(card["touser"] for card in wx.sent)


def test_a_holders_campaign_sends_each_holder_one_card_and_counts_the_rest(
    api, wx, client, backend, promo
):
    holders = users(25)
    grant_all(api, holders)
    grant_all(api, holders[:3])  # a second credit: still one recipient, one card
    opted_out = holders[-1]
    answer = api.call("PUT", f"/v1/users/{opted_out}/preferences", {"opt_out_templates": [PROMO]})
    assert answer.status_code == 200, answer.json_body

    created = create(api)
    assert created.status_code == 201, created.json_body
    assert created.json_body["status"] == "running"

    found = until_done(client, backend, api, created.json_body["id"], None)

    assert found["status"] == "completed"
    assert found["audience_size"] == 25
    assert found["sent"] == 24
    assert found["skipped"]["opted_out"] == 1
    adds_up(found)
    assert cards_per_user(wx) == Counter({openid: 1 for openid in holders[:-1]})
    assert all(card["data"]["thing1"]["value"] == "Winter sale" for card in wx.sent)
    # the user with two credits kept one; the one who opted out kept theirs
    for openid, left in ((holders[0], 1), (holders[5], 0), (opted_out, 1)):
        items = api.call("GET", f"/v1/users/{openid}/subscriptions").json_body["items"]
        assert next(i["credits"] for i in items if i["template_id"] == PROMO) == left
    listed = api.call("GET", f"/v1/users/{holders[5]}/messages").json_body["items"]
    assert [m["campaign_id"] for m in listed] == [found["id"]]


def test_a_list_campaign_personalises_each_card_and_counts_repeats_once(
    api, wx, client, backend, promo
):
    listed = users(6, "oListUser")
    grant_all(api, listed[:5])  # the last one holds nothing
    created = create(
        api,
        audience={"openids": listed[:2]},
        data={"thing1": "Hello", "character_string2": "A-1"},
        start=False,
    )
    assert created.status_code == 201, created.json_body
    campaign_id = created.json_body["id"]
    assert created.json_body["status"] == "draft"

    bad = api.call(
        "POST",
        f"/v1/campaigns/{campaign_id}/recipients",
        {
            "recipients": [
                {"openid": listed[2], "data": {"thing1": "ok"}},
                {"openid": listed[3], "data": {"thing1": "x" * 21}},  # thing: at most 20
            ]
        },
    )
    assert bad.status_code == 400
    assert [f["field"] for f in bad.json_body["error"]["fields"]] == ["recipients[1].data.thing1"]

    recipients = [{"openid": o, "data": {"thing1": f"Hello {o[-1]}"}} for o in listed]
    added = api.call("POST", f"/v1/campaigns/{campaign_id}/recipients", {"recipients": recipients})
    assert added.status_code == 201, added.json_body
    # the first two were in the audience already: counted once
    assert (added.json_body["added"], added.json_body["audience_size"]) == (4, 6)

    assert api.call("POST", f"/v1/campaigns/{campaign_id}/start").status_code == 200
    again = api.call("POST", f"/v1/campaigns/{campaign_id}/start")
    assert again.status_code == 409
    assert again.json_body["error"]["code"] == "invalid_campaign_state"

    found = until_done(client, backend, api, campaign_id, None)
    assert (found["sent"], found["skipped"]["no_grant"]) == (5, 1)
    adds_up(found)
    by_user = {card["touser"]: card["data"] for card in wx.sent}
    assert set(by_user) == set(listed[:5])
    assert by_user[listed[2]]["thing1"]["value"] == "Hello 2"
    assert by_user[listed[2]]["character_string2"]["value"] == "A-1"
    late = api.call("POST", f"/v1/campaigns/{campaign_id}/recipients", {"recipients": recipients})
    assert late.status_code == 409


def test_duplicate_steps_and_a_lost_step_still_give_each_recipient_exactly_one_card(
    api, wx, client, aws, promo, pinned_clock, monkeypatch
):
    import app

    holders = users(100)
    grant_all(api, holders)
    created = create(api)
    campaign_id = created.json_body["id"]
    queue = bootstrap.services().core.queue
    send, lost = queue.send, []

    def loses_one_step(envelope):
        if envelope.body.get("kind") == "campaign_page" and not lost:
            lost.append(envelope)  # the chain moved on, and its next step never reached SQS
            return
        send(envelope)

    monkeypatch.setattr(queue, "send", loses_one_step)
    sqs = boto3.client("sqs")
    # Every step is handed to the handler twice, as SQS may do.
    for _ in range(40):
        answer = sqs.receive_message(
            QueueUrl=aws.send_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        records = answer.get("Messages", [])
        if not records:
            break
        from local.poller import sqs_event

        event = sqs_event(records, "arn:aws:sqs:us-east-1:123456789012:submsg-send")
        app.send_worker(event, None)
        app.send_worker(event, None)
        sqs.delete_message_batch(
            QueueUrl=aws.send_queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": r["ReceiptHandle"]} for i, r in enumerate(records)
            ],
        )
    # One chain loses its next step (a crash between moving on and enqueueing): the tick
    # starts a new generation once the chain has stood still for its lease.
    assert lost
    stalled = campaign(api, campaign_id)
    assert stalled["pending"] > 0 and stalled["completed_at"] is None
    pinned_clock.shift(400)
    found = until_done(client, aws, api, campaign_id, pinned_clock, step_s=200)

    assert found["sent"] == 100
    adds_up(found)
    assert cards_per_user(wx) == Counter({openid: 1 for openid in holders})


def test_pause_withdraws_unsent_cards_and_resume_sends_them_once(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(30)
    grant_all(api, holders)
    created = create(api)
    campaign_id = created.json_body["id"]
    drain(client, backend, rounds=2)  # some steps ran: messages written, few cards out yet
    paused = api.call("POST", f"/v1/campaigns/{campaign_id}/pause")
    assert paused.status_code == 200, paused.json_body
    assert paused.json_body["status"] == "paused"
    run(client, backend)
    during = campaign(api, campaign_id)
    sent_while_paused = len(wx.sent)
    assert during["created"] + during["pending"] == during["audience_size"] == 30
    assert during["pending"] > 0
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/pause").status_code == 409

    assert api.call("POST", f"/v1/campaigns/{campaign_id}/resume").status_code == 200
    found = until_done(client, backend, api, campaign_id, pinned_clock)

    assert sent_while_paused < 30
    assert found["sent"] == 30
    adds_up(found)
    assert cards_per_user(wx) == Counter({openid: 1 for openid in holders})


def test_cancel_refunds_what_was_reserved_and_the_pending_get_nothing(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(20)
    grant_all(api, holders)
    created = create(api)
    campaign_id = created.json_body["id"]
    drain(client, backend, rounds=1)
    canceled = api.call("POST", f"/v1/campaigns/{campaign_id}/cancel")
    assert canceled.status_code == 200
    assert canceled.json_body["status"] == "canceled"
    assert canceled.json_body["pending"] == 0

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=60)

    assert found["status"] == "canceled"
    assert found["canceled"] == 20 - found["sent"]
    adds_up(found)
    credits_left = 0
    for openid in holders:
        items = api.call("GET", f"/v1/users/{openid}/subscriptions").json_body["items"]
        credits_left += next(i["credits"] for i in items if i["template_id"] == PROMO)
    assert credits_left == 20 - len(wx.sent)
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/resume").status_code == 409


@MEMORY_ONLY("the throttle: slots the service computes")
def test_the_throttle_spaces_the_cards_across_every_chain(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(45)
    grant_all(api, holders)
    created = create(api, rate_per_minute=30)
    assert created.json_body["rate_per_minute"] == 30
    assert created.json_body["applied_rate_per_minute"] == 30.0
    campaign_id = created.json_body["id"]

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=20)

    assert found["sent"] == 45
    moments = sorted(
        datetime.fromisoformat(m["sent_at"])
        for openid in holders
        for m in api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
    )
    for index, start in enumerate(moments):
        within = [m for m in moments[index:] if m - start < timedelta(seconds=60)]
        assert len(within) <= 1.1 * 30 + 10
    send_ats = sorted(
        datetime.fromisoformat(m["send_at"])
        for openid in holders
        for m in api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
    )
    gaps = [b - a for a, b in itertools.pairwise(send_ats)]
    assert min(gaps) >= timedelta(seconds=2)  # 30 a minute: one slot every 2 s


@MEMORY_ONLY("the experiment: variants, the decision and the winner are the service's statistics")
def test_an_experiment_tests_both_variants_then_sends_the_winner_to_the_rest(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(120)
    grant_all(api, holders)
    created = create(
        api,
        variants=[
            {"name": "plain", "weight": 50},
            {"name": "urgent", "weight": 50, "data": {"thing1": "Last day of the sale"}},
        ],
        experiment={
            "test_percent": 50,
            "metric": "click_rate",
            "decide_after_minutes": 1,
            "fallback": "first",
        },
    )
    assert created.status_code == 201, created.json_body
    campaign_id = created.json_body["id"]
    run(client, backend)
    testing = campaign(api, campaign_id)
    assert testing["experiment"]["phase"] in ("testing", "deciding")
    tested = {card["touser"] for card in wx.sent}
    assert 0 < len(tested) < 120
    # Everyone who got the urgent copy clicks; nobody else does.
    clicks = 0
    for openid in tested:
        (message,) = api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
        if message["variant"] == "urgent":
            clicked = api.call("POST", f"/v1/messages/{message['id']}/events", {"type": "click"})
            assert clicked.status_code == 202
            clicks += 1

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=30)

    experiment = found["experiment"]
    assert (experiment["phase"], experiment["winner"]) == ("decided", "urgent")
    assert experiment["method"] == "two_proportion_z"
    assert experiment["reason"] == "significant"
    assert experiment["p_value"] < 0.05
    assert found["sent"] == 120
    adds_up(found)
    assert cards_per_user(wx) == Counter({openid: 1 for openid in holders})
    rest = [card for card in wx.sent if card["touser"] not in tested]
    assert rest and all(card["data"]["thing1"]["value"] == "Last day of the sale" for card in rest)
    urgent = next(v for v in found["variants"] if v["name"] == "urgent")
    assert urgent["clicked"] == clicks
    assert 0 < urgent["click_rate"] < 1  # the rest got it too, and did not click
    stats = api.call("GET", f"/v1/stats?from=2026-11-01&to=2026-12-31&campaign_id={campaign_id}")
    assert stats.status_code == 200, stats.json_body
    assert stats.json_body["totals"]["sent"] == 120
    assert stats.json_body["totals"]["clicked"] == urgent["clicked"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"template_id": "TplNoSuchTemplate"}, "template_id"),
        ({"variants": [{"name": "a", "weight": 60}, {"name": "b", "weight": 30}]}, "variants"),
        (
            {"experiment": {"test_percent": 10, "metric": "click_rate", "decide_after_minutes": 5}},
            "experiment",
        ),
        ({"rate_per_minute": 0}, "rate_per_minute"),
        ({"send_at": "2099-01-01T00:00:00Z"}, "send_at"),
        ({"data": {"thing1": "x" * 21, "character_string2": "A"}}, "data.thing1"),
        (
            {
                "variants": [
                    {"name": "a", "weight": 50},
                    {"name": "b", "weight": 50, "data": {"thing1": ""}},
                ]
            },
            "variants[1].data.thing1",
        ),
        ({"audience": {"holders": {}, "openids": ["oA"]}}, "audience"),
        (
            {"audience": {"holders": {"active_within_days": 0}}},
            "audience.holders.active_within_days",
        ),
    ],
)
def test_bad_campaigns_are_refused_naming_the_field(api, promo, fields, named):
    answer = create(api, **fields)
    assert answer.status_code == 400, answer.json_body
    assert answer.json_body["error"]["code"] == "validation_error"
    assert answer.json_body["error"]["fields"][0]["field"] == named


def test_a_holders_campaign_needs_a_template_that_is_not_transactional(api, promo):
    api.put_template()  # the fixtures' order-shipped template: transactional
    answer = create(api, template_id="TplOrderShipped0000000000000000000000000001")
    assert answer.status_code == 400
    assert answer.json_body["error"]["fields"][0]["field"] == "template_id"


def test_campaigns_list_newest_first_and_unknown_ones_are_not_found(api, promo):
    first = create(api, name="First", start=False).json_body["id"]
    second = create(api, name="Second", start=False).json_body["id"]
    listed = api.call("GET", "/v1/campaigns").json_body["items"]
    assert [c["id"] for c in listed] == [second, first]
    assert api.call("GET", "/v1/campaigns/cmp_nope").status_code == 404
    assert api.call("POST", f"/v1/campaigns/{first}/pause").json_body["error"]["code"] == (
        "invalid_campaign_state"
    )


def busiest_minute(moments: list[datetime]) -> int:
    window = timedelta(seconds=60)
    return max(
        (sum(1 for m in moments[i:] if m - start < window) for i, start in enumerate(moments)),
        default=0,
    )


def send_times(api, openids) -> list[datetime]:
    return sorted(
        datetime.fromisoformat(m["send_at"])
        for openid in openids
        for m in api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
        if m["status"] != "canceled"
    )


def test_a_pause_after_the_last_page_and_a_resume_still_reach_everyone_within_the_throttle(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(20)
    grant_all(api, holders)
    created = create(api, rate_per_minute=30)  # 40 s of slots, written ahead (look-ahead 60 s)
    campaign_id = created.json_body["id"]
    run(client, backend)  # every page handled: cards scheduled, most not due yet
    assert campaign(api, campaign_id)["pending"] == 0
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/pause").status_code == 200
    pinned_clock.shift(60)  # the cards come due while paused: withdrawn
    run(client, backend)
    during = campaign(api, campaign_id)
    assert during["pending"] > 0 and during["created"] + during["pending"] == 20
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/resume").status_code == 200

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=20)

    assert found["sent"] == 20
    adds_up(found)
    assert cards_per_user(wx) == Counter({openid: 1 for openid in holders})
    assert busiest_minute(send_times(api, holders)) <= 1.1 * 30 + 10


@MEMORY_ONLY("the experiment's statistics")
def test_conversions_without_clicks_never_break_the_decision(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(40)
    grant_all(api, holders)
    created = create(
        api,
        variants=[{"name": "a", "weight": 50}, {"name": "b", "weight": 50}],
        experiment={"test_percent": 50, "metric": "conversion_rate", "decide_after_minutes": 1},
    )
    campaign_id = created.json_body["id"]
    run(client, backend)
    for card in wx.sent:  # conversions reported with no click before them
        (message,) = api.call("GET", f"/v1/users/{card['touser']}/messages").json_body["items"]
        api.call("POST", f"/v1/messages/{message['id']}/events", {"type": "conversion"})

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=30)

    assert found["experiment"]["reason"] in ("no_data", "not_significant_best", "significant")
    assert found["experiment"]["winner"] in ("a", "b")
    assert found["sent"] == 40
    adds_up(found)


def test_erasing_a_user_cancels_their_unsent_card_and_the_campaign_still_closes(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(6)
    grant_all(api, holders)
    campaign_id = create(api, rate_per_minute=6).json_body["id"]  # a card every 10 s
    run(client, backend)
    assert api.call("DELETE", f"/v1/users/{holders[-1]}").status_code == 204

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=20)

    assert (found["sent"], found["canceled"]) == (5, 1)
    adds_up(found)
    from chalicelib.adapters.store import layout

    store = bootstrap.services().core.store
    shard = store.campaigns.shard_of(holders[-1])
    key = layout.recipient_key(api.tenant.app_id, campaign_id, shard, holders[-1])
    assert store.table.get(key) is None  # nothing of the erased user stays in the campaign
    assert (
        store.table.get(
            layout.recipient_key(
                api.tenant.app_id, campaign_id, store.campaigns.shard_of(holders[0]), holders[0]
            )
        )
        is not None
    )


def test_a_foreign_cursor_or_an_overlong_id_is_refused_not_a_server_error(api, promo):
    import base64
    import json

    foreign = base64.urlsafe_b64encode(json.dumps({"x": {"S": "y"}}).encode()).decode()
    listed = api.call("GET", f"/v1/campaigns?cursor={foreign}")
    assert listed.status_code == 400
    assert listed.json_body["error"]["fields"][0]["field"] == "cursor"
    assert api.call("GET", "/v1/campaigns/cmp_" + "a" * 1100).status_code in (400, 404)


def test_a_deleted_template_ends_the_campaign_with_its_pending_recipients_canceled(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(10)
    grant_all(api, holders)
    campaign_id = create(api, start=False).json_body["id"]
    assert api.call("POST", f"/v1/campaigns/{campaign_id}/start").status_code == 200
    run_due_sweep()
    drain(client, backend, rounds=1)  # the freeze, perhaps a first page
    assert api.call("DELETE", f"/v1/templates/{PROMO}").status_code == 204

    found = until_done(client, backend, api, campaign_id, pinned_clock, step_s=60)

    assert found["canceled"] == 10 - found["sent"] - sum(found["skipped"].values())
    adds_up(found)


def test_another_apps_campaign_is_not_found_on_every_route(api, client, promo, services):
    from tests.support.tenants import OTHER_APP_ID, Api, make_tenant

    campaign_id = create(api, start=False).json_body["id"]
    other = Api(client, make_tenant(services, OTHER_APP_ID, quiet_hours=None))
    for method, path, body in (
        ("GET", f"/v1/campaigns/{campaign_id}", None),
        ("POST", f"/v1/campaigns/{campaign_id}/recipients", {"recipients": [{"openid": "oX"}]}),
        ("POST", f"/v1/campaigns/{campaign_id}/start", None),
        ("POST", f"/v1/campaigns/{campaign_id}/pause", None),
        ("POST", f"/v1/campaigns/{campaign_id}/resume", None),
        ("POST", f"/v1/campaigns/{campaign_id}/cancel", None),
        ("GET", f"/v1/stats?from=2026-11-01&to=2026-11-30&campaign_id={campaign_id}", None),
    ):
        answer = other.call(method, path, body)
        assert answer.status_code == 404, (path, answer.json_body)
    assert [c["id"] for c in other.call("GET", "/v1/campaigns").json_body["items"]] == []
    assert campaign(api, campaign_id)["status"] == "draft"


class ShortLambda:
    """The due sweep's Lambda context: plenty of time left until the tick of this invocation
    began a campaign, then less than the tick keeps in reserve for one more."""

    def __init__(self, services, app_id: str, campaign_ids: list[str]) -> None:
        self.services, self.app_id, self.campaign_ids = services, app_id, campaign_ids
        self.running_before = self.running()

    def running(self) -> int:
        found = [self.services.core.store.campaigns.get(self.app_id, i) for i in self.campaign_ids]
        return sum(f.campaign.status == "running" for f in found)

    def get_remaining_time_in_millis(self) -> int:
        return 10_000 if self.running() == self.running_before else 500


@pytest.mark.at(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai, no quiet hours
def test_the_tick_stops_when_its_lambda_runs_short_and_the_next_tick_goes_on(
    api, wx, client, backend, services, promo, pinned_clock
):
    import app

    for _ in range(3):  # a credit for each campaign
        grant_all(api, users(4))
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    ids = []
    for _ in range(3):
        created = create(api, send_at=send_at)
        assert created.status_code == 201, created.json_body
        assert created.json_body["status"] == "scheduled"
        ids.append(created.json_body["id"])
    pinned_clock.shift(3600)

    def statuses() -> list[str]:
        return sorted(campaign(api, i)["status"] for i in ids)

    context = ShortLambda(services, api.tenant.app_id, ids)
    cut_short = app.due_sweep(scheduled_event(), context)
    assert (cut_short["campaigns"], cut_short["unfinished"]) == (1, True)  # looked after one
    assert statuses() == ["running", "scheduled", "scheduled"]  # stopped after the first
    app.due_sweep(scheduled_event(), ShortLambda(services, api.tenant.app_id, ids))
    assert statuses() == ["running", "running", "scheduled"]  # the next tick went on
    whole = app.due_sweep(scheduled_event(), None)  # no Lambda (the local stack): no budget
    assert (whole["campaigns"], whole["unfinished"]) == (3, False)
    assert statuses() == ["running"] * 3

    found = [until_done(client, backend, api, i, pinned_clock) for i in ids]
    for each in found:
        adds_up(each)
    assert cards_per_user(wx) == dict.fromkeys(users(4), 3)  # one card per campaign each


@pytest.mark.at(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai, no quiet hours
def test_a_throttled_campaign_the_tick_begins_early_sends_nothing_before_its_send_at(
    api, wx, client, backend, promo, pinned_clock
):
    holders = users(6)
    grant_all(api, holders)
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    created = create(api, send_at=send_at.isoformat(), rate_per_minute=60)
    assert created.json_body["status"] == "scheduled"
    pinned_clock.shift(10 * 60 - 40)  # 40 s early: the tick's look-ahead begins it now

    run_due_sweep()
    assert campaign(api, created.json_body["id"])["status"] == "running"
    found = until_done(client, backend, api, created.json_body["id"], pinned_clock, step_s=10)

    assert found["sent"] == 6
    send_ats = sorted(
        datetime.fromisoformat(m["send_at"])
        for openid in holders
        for m in api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
    )
    assert send_ats[0] >= send_at  # the first slot at send_at, not at the early begin
    gaps = [b - a for a, b in itertools.pairwise(send_ats)]
    assert min(gaps) >= timedelta(seconds=1)  # 60 a minute: one slot a second
