"""Campaign audiences (docs/campaigns.md#audiences): an empty list draft filled through /recipients,
and the holders active within N days; through the real routes, the SQS handler and the due sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain import clock
from tests.flows.test_flow_campaigns import (
    DATA,
    PROMO,
    adds_up,
    create,
    grant_all,
    promo_template,
    until_done,
    users,
)
from tests.support.clocks import PINNED_AT
from tests.support.events import drain


@pytest.fixture
def promo(api, services, monkeypatch):
    return promo_template(api, services, monkeypatch)


# Empty list drafts -------------------------------------------------------------------------------


def test_an_empty_list_makes_a_draft_that_starts_once_recipients_are_added(
    api, wx, client, backend, promo, pinned_clock
):
    listed = users(2, "oLateUser")
    grant_all(api, listed)
    created = create(api, audience={"openids": []}, start=False)
    assert created.status_code == 201, created.json_body
    draft = created.json_body
    assert (draft["status"], draft["audience_size"]) == ("draft", 0)
    empty = api.call("POST", f"/v1/campaigns/{draft['id']}/start")
    assert empty.status_code == 409
    assert empty.json_body["error"]["code"] == "invalid_campaign_state"
    assert "recipients" in empty.json_body["error"]["message"]

    recipients = [{"openid": openid} for openid in listed]
    added = api.call("POST", f"/v1/campaigns/{draft['id']}/recipients", {"recipients": recipients})
    assert added.status_code == 201, added.json_body
    assert api.call("POST", f"/v1/campaigns/{draft['id']}/start").status_code == 200

    found = until_done(client, backend, api, draft["id"], pinned_clock)
    assert found["sent"] == 2
    adds_up(found)


def test_an_empty_list_that_would_start_at_once_is_refused_naming_the_list(api, promo):
    answer = create(api, audience={"openids": []})
    assert answer.status_code == 400, answer.json_body
    assert answer.json_body["error"]["code"] == "validation_error"
    assert answer.json_body["error"]["fields"][0]["field"] == "audience.openids"
    assert api.call("GET", "/v1/campaigns").json_body["items"] == []


# Holders active within N days --------------------------------------------------------------------


def test_active_within_days_selects_the_holders_with_activity_clicks_or_taps_in_those_days(
    api, wx, client, backend, promo, pinned_clock
):
    api.put_template(PROMO, title="Promotion", category="reminder", grant_ttl_days=0)
    stale, reporter, clicker, tapper = users(4, "oActivity")
    pinned_clock.move_to(PINNED_AT - timedelta(days=20))  # every grant is a tap: active then
    grant_all(api, [stale, reporter, clicker, clicker])
    card = api.call("POST", "/v1/messages", {"openid": clicker, "template_id": PROMO, "data": DATA})
    assert card.status_code == 201, card.json_body
    drain(client, backend)
    assert wx.sent and wx.sent[0]["touser"] == clicker

    pinned_clock.move_to(PINNED_AT - timedelta(days=3))
    events = [{"openid": reporter, "at": clock.now().isoformat(), "kind": "open"}]
    assert api.call("POST", "/v1/activity", {"events": events}).status_code == 202
    pinned_clock.move_to(PINNED_AT - timedelta(days=1))
    clicked = api.call("POST", f"/v1/messages/{card.json_body['id']}/events", {"type": "click"})
    assert clicked.status_code == 202
    pinned_clock.move_to(PINNED_AT)
    grant_all(api, [tapper])

    created = create(api, audience={"holders": {"active_within_days": 7}})
    assert created.status_code == 201, created.json_body
    found = until_done(client, backend, api, created.json_body["id"], pinned_clock)

    assert (found["audience_size"], found["sent"]) == (3, 3)
    adds_up(found)
    assert {c["touser"] for c in wx.sent[1:]} == {reporter, clicker, tapper}
    # Without the filter, the one left out still holds a credit: it was left out for its days.
    everyone = create(api, name="Everyone").json_body
    assert until_done(client, backend, api, everyone["id"], pinned_clock)["sent"] == 1
    assert wx.sent[-1]["touser"] == stale
