"""Campaign books that always close (SPEC §10): empty drafts filled later, a user erased during
a campaign, a cancel that withdraws every card at once, the throttle after quiet hours; through
the real routes, the SQS handler and the due sweep."""

from __future__ import annotations

import pytest

from tests.test_flow_campaigns import (
    PROMO,
    adds_up,
    campaign,
    create,
    grant_all,
    promo_template,
    run,
    until_done,
    users,
)


@pytest.fixture
def promo(api, services, monkeypatch):
    return promo_template(api, services, monkeypatch)


def test_an_empty_list_makes_a_draft_that_starts_once_recipients_are_added(
    api, wx, client, aws, promo, pinned_clock
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

    found = until_done(client, aws, api, draft["id"], pinned_clock)
    assert found["sent"] == 2
    adds_up(found)


def test_an_empty_list_that_would_start_at_once_is_refused_naming_the_list(api, promo):
    answer = create(api, audience={"openids": []})
    assert answer.status_code == 400, answer.json_body
    assert answer.json_body["error"]["code"] == "validation_error"
    assert answer.json_body["error"]["fields"][0]["field"] == "audience.openids"
    assert api.call("GET", "/v1/campaigns").json_body["items"] == []


# Erasing a user during a campaign ------------------------------------------------------------


def credits_of(api, openid: str) -> int:
    items = api.call("GET", f"/v1/users/{openid}/subscriptions").json_body["items"]
    return next(item["credits"] for item in items if item["template_id"] == PROMO)


def test_a_recipient_erased_before_the_start_is_counted_canceled_and_the_campaign_completes(
    api, wx, client, aws, promo, pinned_clock
):
    kept, erased = users(2, "oErasedEarly")
    grant_all(api, [kept, erased])
    draft = create(api, audience={"openids": [kept, erased]}, start=False).json_body
    assert api.call("DELETE", f"/v1/users/{erased}").status_code == 204
    assert api.call("POST", f"/v1/campaigns/{draft['id']}/start").status_code == 200

    found = until_done(client, aws, api, draft["id"], pinned_clock, step_s=20)

    assert found["status"] == "completed"
    assert (found["audience_size"], found["sent"], found["canceled"]) == (2, 1, 1)
    adds_up(found)
    assert [card["touser"] for card in wx.sent] == [kept]


def test_a_user_erased_between_their_card_and_its_send_gets_nothing_and_is_counted_canceled(
    api, wx, client, aws, promo, pinned_clock
):
    listed = users(2, "oErasedLate")
    grant_all(api, listed)
    campaign_id = create(api, audience={"openids": listed}, rate_per_minute=1).json_body["id"]
    run(client, aws)  # both cards written; the second waits for its slot, a minute on
    written = campaign(api, campaign_id)
    assert (written["created"], written["sent"]) == (2, 1)
    (first,) = [card["touser"] for card in wx.sent]
    (waiting,) = set(listed) - {first}
    assert api.call("DELETE", f"/v1/users/{waiting}").status_code == 204
    erased = campaign(api, campaign_id)
    assert (erased["sent"], erased["canceled"]) == (1, 1)  # at once, not at its slot

    found = until_done(client, aws, api, campaign_id, pinned_clock, step_s=30)

    assert found["status"] == "completed"
    adds_up(found)
    assert [card["touser"] for card in wx.sent] == [first]
