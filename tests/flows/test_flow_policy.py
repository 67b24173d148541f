"""The send-time policy through the real sender: quiet hours, frequency caps, late opt-outs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from chalicelib.services import admin
from tests.support.events import drain
from tests.support.tenants import APP_ID, OPENID, TEMPLATE, make_tenant

NIGHT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
REMINDER = "TplClassStarts000000000000000000000000000001"


@pytest.fixture
def tenant(services):
    """An app with the default policy: quiet hours 22:00-08:00, reminder cap 3/day."""
    return make_tenant(services, APP_ID)


@pytest.fixture
def night():
    with time_machine.travel(NIGHT, tick=True) as traveller:
        yield traveller


@pytest.fixture
def reminders(api):
    api.put_template(REMINDER, category="reminder", title="Class starts")
    for _ in range(5):
        api.grant(template_id=REMINDER)
    return api


def status(api, message_id: str) -> dict:
    return api.call("GET", f"/v1/messages/{message_id}").json_body


def credits(api, template_id: str) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == template_id)


def test_a_reminder_due_in_quiet_hours_waits_for_the_morning(night, reminders, client, backend, wx):
    message_id = reminders.send(template_id=REMINDER).json_body["id"]
    drain(client, backend)
    found = status(reminders, message_id)
    assert found["status"] == "scheduled"
    assert found["send_at"] == "2026-11-24T00:00:00.000Z"  # 08:00 in Shanghai
    assert wx.sent == []


def test_quiet_hours_follow_the_users_own_timezone(night, reminders, client, backend, wx):
    reminders.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Europe/London"})
    message_id = reminders.send(template_id=REMINDER).json_body["id"]
    drain(client, backend)
    assert status(reminders, message_id)["status"] == "sent"  # 15:00 in London


def test_a_timezone_changed_after_the_message_was_written_is_honoured(
    night, reminders, client, backend, wx
):
    reminders.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Europe/London"})
    message_id = reminders.send(template_id=REMINDER).json_body["id"]
    reminders.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Asia/Tokyo"})
    drain(client, backend)
    found = status(reminders, message_id)
    assert found["status"] == "scheduled"  # midnight in Tokyo
    assert found["send_at"] == "2026-11-23T23:00:00.000Z"  # 08:00 in Tokyo


@pytest.mark.parametrize(("template", "urgent"), [(TEMPLATE, False), (REMINDER, True)])
def test_transactional_and_urgent_messages_ignore_quiet_hours(
    night, reminders, client, backend, wx, template, urgent
):
    reminders.put_template()
    reminders.grant()
    message_id = reminders.send(template_id=template, urgent=urgent).json_body["id"]
    drain(client, backend)
    assert status(reminders, message_id)["status"] == "sent"


def test_the_fourth_reminder_of_a_day_is_skipped_and_refunded(
    reminders, services, client, backend, wx
):
    admin.update_app(services.core, APP_ID, {"quiet_hours": None})
    ids = [reminders.send(template_id=REMINDER).json_body["id"] for _ in range(4)]
    drain(client, backend)
    states = [status(reminders, i) for i in ids]
    assert [s["status"] for s in states].count("sent") == 3
    skipped = [s for s in states if s["status"] == "skipped"]
    assert len(skipped) == 1
    assert skipped[0]["result"]["reason"] == "frequency_cap"
    assert credits(reminders, REMINDER) == 2  # 5 granted, 3 sent, the skipped one refunded


def test_a_cap_frees_up_when_a_send_fails(reminders, services, client, backend, wx):
    admin.update_app(services.core, APP_ID, {"quiet_hours": None})
    wx.then({"errcode": 47003, "errmsg": "argument invalid! data.thing1.value"})
    ids = [reminders.send(template_id=REMINDER).json_body["id"] for _ in range(4)]
    drain(client, backend)
    statuses = sorted(status(reminders, i)["status"] for i in ids)
    assert statuses == ["failed", "sent", "sent", "sent"]


def test_an_opt_out_between_creation_and_send_skips_and_refunds(
    reminders, services, client, backend, wx
):
    admin.update_app(services.core, APP_ID, {"quiet_hours": None})
    message_id = reminders.send(template_id=REMINDER).json_body["id"]
    reminders.call("PUT", f"/v1/users/{OPENID}/preferences", {"opt_out_templates": [REMINDER]})
    drain(client, backend)
    found = status(reminders, message_id)
    assert (found["status"], found["result"]["reason"]) == ("skipped", "opted_out")
    assert credits(reminders, REMINDER) == 5
    assert wx.sent == []


def test_a_preferences_change_keeps_what_it_omits_and_a_null_clears_a_setting(tenant, api):
    path = f"/v1/users/{OPENID}/preferences"
    first = {"timezone": "Asia/Tokyo", "opt_out_all": True, "opt_out_categories": ["marketing"]}
    assert api.call("PUT", path, first).status_code == 200
    kept = api.call("PUT", path, {"opt_out_templates": [REMINDER]}).json_body
    assert kept == {
        "openid": OPENID,
        "timezone": "Asia/Tokyo",
        "opt_out_all": True,
        "opt_out_categories": ["marketing"],
        "opt_out_templates": [REMINDER],
    }
    cleared = {"timezone": None, "opt_out_all": None, "opt_out_categories": None}
    assert api.call("PUT", path, cleared).status_code == 200
    assert api.call("GET", path).json_body == {
        "openid": OPENID,
        "timezone": None,
        "opt_out_all": False,
        "opt_out_categories": [],
        "opt_out_templates": [REMINDER],
    }


def test_an_unknown_timezone_changes_no_preference(tenant, api):
    path = f"/v1/users/{OPENID}/preferences"
    api.call("PUT", path, {"opt_out_all": True})
    refused = api.call("PUT", path, {"timezone": "Mars/Olympus", "opt_out_all": False})
    assert refused.status_code == 400
    assert refused.json_body["error"]["fields"] == [
        {"field": "timezone", "problem": "not an IANA timezone name"}
    ]
    assert api.call("GET", path).json_body["opt_out_all"] is True
