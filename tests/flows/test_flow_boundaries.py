"""Day, week and DST boundaries through the real entry points (HTTP, then the SQS sender).

The UTC date and the Asia/Shanghai date differ from 16:00 to 24:00 UTC; a week starts on
Monday 00:00 in the user's timezone; a DST change moves the local morning in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.support.events import drain
from tests.support.tenants import APP_ID, OPENID, Api, make_tenant

PROMO = "TplSpringSale0000000000000000000000000000001"
REMINDER = "TplClassStarts000000000000000000000000000001"
LONDONER = "oUserLondon00000000000000000001"


def status(api, message_id: str) -> dict:
    return api.call("GET", f"/v1/messages/{message_id}").json_body


def sent_one(api, client, backend, **body) -> dict:
    answer = api.send(**body)
    assert answer.status_code == 201, answer.json_body
    drain(client, backend)
    return status(api, answer.json_body["id"])


def test_statistics_count_the_day_of_the_apps_timezone_not_the_utc_day(api, client, backend, wx):
    api.put_template()
    api.grant()
    api.grant()
    with time_machine.travel(datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC), tick=False):
        assert sent_one(api, client, backend)["status"] == "sent"  # Monday 23:59:59 in Shanghai
    with time_machine.travel(datetime(2026, 11, 23, 16, 0, 0, tzinfo=UTC), tick=False):
        assert sent_one(api, client, backend)["status"] == "sent"  # Tuesday 00:00 in Shanghai

    stats = api.call("GET", "/v1/stats?from=2026-11-22&to=2026-11-24").json_body
    per_day = {d["date"]: (d["requested"], d["sent"]) for d in stats["days"]}
    assert per_day == {"2026-11-22": (0, 0), "2026-11-23": (1, 1), "2026-11-24": (1, 1)}
    assert stats["days"][1]["grants_received"] == 2  # granted at Monday 00:30 in Shanghai


@pytest.fixture
def promotions(services, client):
    """The default caps (marketing 1 per week), quiet hours off; two users, two timezones."""
    api = Api(client, make_tenant(services, APP_ID, quiet_hours=None))
    api.put_template(PROMO, category="marketing", title="Spring sale")
    api.call("PUT", f"/v1/users/{LONDONER}/preferences", {"timezone": "Europe/London"})
    for openid in (OPENID, LONDONER):
        for _ in range(3):
            assert api.grant(openid, PROMO).status_code == 201
    return api


@pytest.mark.at(datetime(2026, 11, 29, 15, 50, tzinfo=UTC))  # Sunday 23:50 in Shanghai
def test_the_weekly_marketing_cap_restarts_at_monday_midnight_in_the_users_timezone(
    promotions, client, backend, wx, pinned_clock
):
    for openid in (OPENID, LONDONER):
        sent = sent_one(promotions, client, backend, openid=openid, template_id=PROMO)
        assert sent["status"] == "sent"
        capped = sent_one(promotions, client, backend, openid=openid, template_id=PROMO)
        assert (capped["status"], capped["result"]["reason"]) == ("skipped", "frequency_cap")

    pinned_clock.move_to(datetime(2026, 11, 29, 16, 0, 30, tzinfo=UTC))  # still Sunday in UTC
    shanghai = sent_one(promotions, client, backend, template_id=PROMO)
    london = sent_one(promotions, client, backend, openid=LONDONER, template_id=PROMO)
    assert shanghai["status"] == "sent"  # Monday 00:00:30 in Shanghai: a new week
    assert (london["status"], london["result"]["reason"]) == ("skipped", "frequency_cap")


@pytest.mark.at(datetime(2027, 3, 14, 6, 30, tzinfo=UTC))  # 01:30 EST, DST starts at 02:00
def test_quiet_hours_end_at_the_local_morning_on_the_night_dst_starts(
    services, client, backend, wx
):
    api = Api(client, make_tenant(services, APP_ID))  # quiet hours 22:00-08:00
    api.put_template(REMINDER, category="reminder", title="Class starts")
    api.grant(template_id=REMINDER)
    api.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "America/New_York"})

    deferred = sent_one(api, client, backend, template_id=REMINDER)
    assert deferred["status"] == "scheduled"
    assert deferred["send_at"] == "2027-03-14T12:00:00.000Z"  # 08:00 EDT, not 13:00 UTC
    assert datetime.fromisoformat(deferred["send_at"]) - datetime.now(UTC) < timedelta(hours=6)
    assert wx.sent == []
