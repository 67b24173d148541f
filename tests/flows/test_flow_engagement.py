"""Engagement through the HTTP API (docs/engagement.md): activity, best send times, the adaptive
marketing budget; against moto, with the sender run as Lambda runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib import bootstrap
from chalicelib.domain import clock
from chalicelib.services import admin
from chalicelib.services.caches import Entry
from tests.flows.test_flow_callback import TOKEN, change_event_json, push, signed
from tests.support.events import drain, run_due_sweep
from tests.support.tenants import APP_ID, OPENID, make_tenant

SHANGHAI = ZoneInfo("Asia/Shanghai")
REMINDER = "TplClassReminder00000000000000000000000001"
PROMO = "TplPromotion000000000000000000000000000001"
DATA = {"thing1": "Yoga class", "character_string2": "C-1"}


@pytest.fixture
def tenant(services):
    """An app with the default quiet hours, 22:00-08:00 in Shanghai."""
    return make_tenant(services, APP_ID)


@pytest.fixture
def templates(api):
    keywords = [
        {"key": "thing1", "name": "Item"},
        {"key": "character_string2", "name": "Number"},
    ]
    api.put_template(REMINDER, title="Class reminder", category="reminder", keywords=keywords)
    api.put_template(PROMO, title="New season", category="marketing", keywords=keywords)


@pytest.fixture
def daytime(services, pinned_clock):
    """No quiet hours, and the clock on a Wednesday at 10:00 in Shanghai."""
    admin.update_app(services.core, APP_ID, {"quiet_hours": None})
    pinned_clock.move_to(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


def local_days_ago(days: int, hour: int, minute: int = 10) -> str:
    today = clock.now().astimezone(SHANGHAI).date()
    moment = datetime.combine(today - timedelta(days=days), datetime.min.time(), SHANGHAI)
    return moment.replace(hour=hour, minute=minute).astimezone(UTC).isoformat()


def activity(api, openid: str, hours: list[int], days: int = 6):
    events = [
        {"openid": openid, "at": local_days_ago(day, hour), "kind": "open"}
        for day in range(1, days + 1)
        for hour in hours
    ]
    return api.call("POST", "/v1/activity", {"events": events})


def send(api, openid: str = OPENID, template_id: str = REMINDER, **extra):
    api.grant(openid, template_id)
    body = {"openid": openid, "template_id": template_id, "data": DATA, **extra}
    return api.call("POST", "/v1/messages", body)


def budget(api, openid: str = OPENID) -> dict:
    return api.call("GET", f"/v1/users/{openid}/subscriptions").json_body["marketing_budget"]


def field_names(response) -> set[str]:
    assert response.status_code == 400, response.json_body
    return {problem["field"] for problem in response.json_body["error"]["fields"]}


def sent_now(client, backend) -> None:
    run_due_sweep()
    drain(client, backend)


# Activity -------------------------------------------------------------------------------------


def test_activity_is_accepted_and_written_once_per_user_and_once_for_the_app(
    api, services, monkeypatch
):
    table = bootstrap.services().core.store.table
    calls: list[str] = []
    for name in ("write", "get_many", "commit", "query", "get"):
        original = getattr(table, name)
        monkeypatch.setattr(
            table, name, lambda *a, _o=original, _n=name, **k: (calls.append(_n), _o(*a, **k))[1]
        )
    events = [
        {"openid": f"oActive{n % 3}", "at": local_days_ago(1, 9 + n), "kind": "open"}
        for n in range(9)
    ]
    response = api.call("POST", "/v1/activity", {"events": events})

    assert response.status_code == 202
    assert response.json_body == {"accepted": 9}
    # The rate limit's counter, the users' timezones in one batch, three users and the app;
    # and, the first time a user is seen active that day, the user's last active day (one
    # write, one Query of the user's partition for holders index entries: none here).
    assert calls.count("get_many") == 1
    assert calls.count("write") == 1 + 3 + 3 + 1
    assert calls.count("query") == 3
    calls.clear()
    assert api.call("POST", "/v1/activity", {"events": events}).status_code == 202
    assert calls.count("write") == 1 + 3 + 1  # the same day again: known already
    assert calls.count("query") == 0
    monkeypatch.undo()
    found = services.core.store.users.load(APP_ID, "oActive0").engagement
    assert found.events == 6
    assert services.core.store.engagement.app_tally(APP_ID).events == 18


def test_events_count_in_the_users_own_timezone(api, services):
    api.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "America/New_York"})
    moment = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # Friday 15:00 in New York
    api.call(
        "POST",
        "/v1/activity",
        {"events": [{"openid": OPENID, "at": moment.isoformat(), "kind": "purchase"}]},
    )
    weights = services.core.store.users.load(APP_ID, OPENID).engagement.weights
    assert [hour for _, hour in weights] == [4 * 24 + 15]


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([{"openid": OPENID, "at": "2026-11-23T00:00:00Z", "kind": "open"}], "events[0].at"),
        ([{"openid": OPENID, "at": "2026-08-01T00:00:00Z", "kind": "open"}], "events[0].at"),
        ([{"openid": OPENID, "at": "2026-11-20T00:00:00Z", "kind": "view"}], "events[0].kind"),
        ([{"openid": OPENID, "at": "2026-11-20T00:00:00", "kind": "open"}], "events[0].at"),
        (
            [{"openid": "no spaces", "at": "2026-11-20T00:00:00Z", "kind": "open"}],
            "events[0].openid",
        ),
        ([], "events"),
        ([{"openid": OPENID, "at": "2026-11-20T00:00:00Z", "kind": "open"}] * 501, "events"),
    ],
)
def test_bad_events_are_refused_naming_the_field(api, events, field):
    assert field in field_names(api.call("POST", "/v1/activity", {"events": events}))


def test_a_click_and_a_popup_tap_count_as_activity(
    api, templates, services, client, backend, wx, daytime
):
    created = send(api).json_body  # the grant is a popup tap
    assert services.core.store.users.load(APP_ID, OPENID).engagement.events == 1
    sent_now(client, backend)
    api.call("POST", f"/v1/messages/{created['id']}/events", {"type": "click"})
    found = services.core.store.users.load(APP_ID, OPENID).engagement
    assert found.events == 2
    assert found.last_click_at == clock.now().replace(microsecond=found.last_click_at.microsecond)
    assert services.core.store.engagement.app_tally(APP_ID).events == 2


# Best send time ---------------------------------------------------------------------------------


def test_a_user_active_at_15_gets_the_reminder_at_15_local(
    api, templates, client, backend, wx, pinned_clock
):
    assert activity(api, OPENID, [15]).status_code == 202
    created = send(api, best_time={"within_hours": 24})
    message = created.json_body

    assert created.status_code == 201, message
    assert message["send_time_reason"] == "user_history"
    at = datetime.fromisoformat(message["send_at"])
    assert (at.astimezone(SHANGHAI).hour, at.minute) == (15, 0)
    assert message["status"] == "scheduled"
    pinned_clock.move_to(at + timedelta(seconds=1))
    sent_now(client, backend)
    assert len(wx.sent) == 1


def test_a_user_active_only_at_23_never_gets_it_in_quiet_hours(api, templates):
    activity(api, OPENID, [23])
    message = send(api, best_time={"within_hours": 48}).json_body
    local = datetime.fromisoformat(message["send_at"]).astimezone(SHANGHAI)
    assert 8 <= local.hour < 22
    assert local.hour == 21  # the awake hour nearest to the habit
    assert message["send_time_reason"] == "user_history"


def test_a_new_user_follows_the_apps_habits_and_a_new_app_sends_at_once(api, templates):
    quiet_start = send(api, "oNewcomer", best_time={"within_hours": 24}).json_body
    assert quiet_start["send_time_reason"] == "no_history"
    # 00:30 in Shanghai is quiet: at once means the end of the quiet hours.
    assert datetime.fromisoformat(quiet_start["send_at"]).astimezone(SHANGHAI).hour == 8

    for n in range(4):
        activity(api, f"oRegular{n}", [10], days=5)  # 20 events in all
    bootstrap.services().core.catalog_cache.forget(Entry.APP_TALLY, APP_ID)
    message = send(api, "oSecondcomer", best_time={"within_hours": 24}).json_body
    assert message["send_time_reason"] == "app_history"
    assert datetime.fromisoformat(message["send_at"]).astimezone(SHANGHAI).hour == 10


def test_a_best_time_skips_a_day_whose_cap_is_used_up(
    api, templates, services, client, backend, wx, daytime
):
    admin.update_app(services.core, APP_ID, {"caps": {"reminder": {"limit": 1, "period": "day"}}})
    activity(api, OPENID, [9])
    send(api)
    sent_now(client, backend)  # today's one reminder is used
    message = send(api, best_time={"within_hours": 48}).json_body
    local = datetime.fromisoformat(message["send_at"]).astimezone(SHANGHAI)
    assert local.date() > clock.now().astimezone(SHANGHAI).date()
    assert local.hour == 9


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"best_time": {"within_hours": 0}}, "best_time.within_hours"),
        ({"best_time": {"within_hours": 73}}, "best_time.within_hours"),
        ({"best_time": {}}, "best_time.within_hours"),
        ({"best_time": {"within_hours": 5}, "send_at": "2026-11-23T10:00:00Z"}, "best_time"),
    ],
)
def test_bad_best_times_are_refused_naming_the_field(api, templates, extra, field):
    assert field in field_names(send(api, **extra))


# The marketing budget ---------------------------------------------------------------------------


def marketing(api, client, backend, openid: str = OPENID) -> dict:
    created = send(api, openid, PROMO).json_body
    sent_now(client, backend)
    return api.call("GET", f"/v1/messages/{created['id']}").json_body


def test_three_unclicked_marketing_cards_skip_the_fourth_as_fatigue_for_14_days(
    api, templates, services, client, backend, wx, daytime, pinned_clock
):
    admin.update_app(
        services.core, APP_ID, {"caps": {"marketing": {"limit": 10, "period": "week"}}}
    )
    for _ in range(3):
        assert marketing(api, client, backend)["status"] == "sent"
    third_sent = clock.now()
    assert budget(api)["reason"] == "fatigued"

    fourth = marketing(api, client, backend)
    assert (fourth["status"], fourth["result"]["reason"]) == ("skipped", "fatigue")
    subscriptions = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body
    assert {i["template_id"]: i["credits"] for i in subscriptions["items"]}[PROMO] == 1
    found = budget(api)
    assert (found["per_week"], found["reason"]) == (0, "fatigued")
    until = datetime.fromisoformat(found["until"])
    assert timedelta(days=14) - timedelta(seconds=5) < until - third_sent <= timedelta(days=14)
    reminder = send(api).json_body  # reminders are never affected
    sent_now(client, backend)
    assert api.call("GET", f"/v1/messages/{reminder['id']}").json_body["status"] == "sent"

    pinned_clock.move_to(until + timedelta(minutes=1))
    assert budget(api)["reason"] == "base"
    assert marketing(api, client, backend)["status"] == "sent"


def test_a_user_who_clicked_gets_one_more_marketing_card_a_week(
    api, templates, client, backend, wx, daytime
):
    first = marketing(api, client, backend)
    api.call("POST", f"/v1/messages/{first['id']}/events", {"type": "click"})
    found = budget(api)
    assert (found["per_week"], found["reason"]) == (2, "engaged")
    assert marketing(api, client, backend)["status"] == "sent"
    third = marketing(api, client, backend)
    assert (third["status"], third["result"]["reason"]) == ("skipped", "frequency_cap")

    assert marketing(api, client, backend, "oNeverClicks")["status"] == "sent"
    second = marketing(api, client, backend, "oNeverClicks")
    assert (second["status"], second["result"]["reason"]) == ("skipped", "frequency_cap")
    assert budget(api, "oNeverClicks") == {"per_week": 1, "reason": "base", "until": None}


def test_switching_messages_off_makes_the_budget_zero(
    api, templates, services, client, backend, wx, daytime
):
    admin.set_callback_secrets(services.app_secrets, APP_ID, TOKEN, None)
    admin.update_app(services.core, APP_ID, {"callback_format": "json"})
    assert (
        push(client, change_event_json(REMINDER), signed(), "application/json").status_code == 200
    )
    found = budget(api)
    assert (found["per_week"], found["reason"]) == (0, "switched_off")
    card = marketing(api, client, backend)
    assert (card["status"], card["result"]["reason"]) == ("skipped", "fatigue")


def test_without_adaptive_marketing_a_fatigued_user_gets_the_base_budget(
    api, templates, services, client, backend, wx, daytime
):
    admin.update_app(
        services.core, APP_ID, {"caps": {"marketing": {"limit": 10, "period": "week"}}}
    )
    for _ in range(3):
        marketing(api, client, backend)
    admin.update_app(services.core, APP_ID, {"adaptive_marketing": False})
    bootstrap.services().core.catalog_cache.forget(Entry.APP, APP_ID)
    assert budget(api) == {"per_week": 10, "reason": "base", "until": None}
    assert marketing(api, client, backend)["status"] == "sent"


def test_erasing_a_user_erases_the_engagement(api, templates, services):
    activity(api, OPENID, [9])
    assert api.call("DELETE", f"/v1/users/{OPENID}").status_code == 204
    assert services.core.store.users.load(APP_ID, OPENID).engagement.events == 0


# Campaigns ------------------------------------------------------------------------------------


def best_time_campaign(api, **extra):
    body = {
        "name": "Spring tea",
        "template_id": PROMO,
        "audience": {"holders": {}},
        "data": DATA,
        "best_time": {"within_hours": 24},
        **extra,
    }
    return api.call("POST", "/v1/campaigns", body)


def test_a_best_time_campaign_sends_each_holder_at_their_own_hour_and_counts_fatigue(
    api, templates, services, client, backend, wx, pinned_clock
):
    from tests.flows.test_flow_campaigns import adds_up, until_done

    admin.update_app(
        services.core, APP_ID, {"caps": {"marketing": {"limit": 10, "period": "week"}}}
    )
    habits = {"oMorning0": 10, "oMorning1": 10, "oEvening0": 19}
    for openid, hour in habits.items():
        activity(api, openid, [hour])
        api.grant(openid, PROMO)
    tired = "oTired"
    admin.update_app(services.core, APP_ID, {"quiet_hours": None})
    for _ in range(3):
        marketing(api, client, backend, tired)
    admin.update_app(services.core, APP_ID, {"quiet_hours": {"start": "22:00", "end": "08:00"}})
    api.grant(tired, PROMO)
    bootstrap.services().core.catalog_cache.forget(Entry.APP, APP_ID)

    created = best_time_campaign(api)
    assert created.status_code == 201, created.json_body
    assert created.json_body["best_time"] == {"within_hours": 24}
    found = until_done(client, backend, api, created.json_body["id"], pinned_clock, step_s=1800)

    assert found["sent"] == 3
    assert found["skipped"]["fatigue"] == 1
    adds_up(found)
    for openid, hour in habits.items():
        (card,) = api.call("GET", f"/v1/users/{openid}/messages").json_body["items"]
        assert card["status"] == "sent"
        assert card["send_time_reason"] == "user_history"
        assert datetime.fromisoformat(card["send_at"]).astimezone(SHANGHAI).hour == hour


@pytest.mark.parametrize(
    "extra",
    [
        {"rate_per_minute": 100},
        {
            "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}],
            "experiment": {"test_percent": 10, "metric": "click_rate", "decide_after_minutes": 5},
        },
    ],
)
def test_a_best_time_campaign_is_neither_throttled_nor_an_experiment(api, templates, extra):
    assert "best_time" in field_names(best_time_campaign(api, **extra))
