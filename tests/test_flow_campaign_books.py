"""Campaign books that always close (SPEC §10): empty drafts filled later, a user erased during
a campaign, a cancel that withdraws every card at once, the throttle after quiet hours; through
the real routes, the SQS handler and the due sweep."""

from __future__ import annotations

import pytest

from tests.test_flow_campaigns import (
    adds_up,
    create,
    grant_all,
    promo_template,
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
