"""Grants reported by the mini-program through POST /v1/grants: every kind of allow counts."""

from __future__ import annotations

import pytest

from tests.conftest import OPENID, TEMPLATE, app_day

LONG_TERM = "TplLongTermNotice000000000000000000000000001"
ARRIVED = "TplOrderArrived00000000000000000000000000001"
ALLOWS = ["accept", "acceptWithAudio", "acceptWithAlert", "acceptWithForcePush"]


@pytest.fixture
def templates(api):
    api.put_template()
    api.put_template(ARRIVED)
    api.put_template(LONG_TERM, kind="long_term", category="reminder")
    return api


def subscriptions(api) -> dict[str, dict]:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return {i["template_id"]: i for i in items}


def report(api, results: dict[str, str]):
    body = {"openid": OPENID, "results": {"errMsg": "requestSubscribeMessage:ok", **results}}
    return api.call("POST", "/v1/grants", body)


@pytest.mark.parametrize("allow", ALLOWS)
def test_every_kind_of_allow_is_one_credit_remembered_as_it_came(templates, allow):
    answer = report(templates, {TEMPLATE: allow, ARRIVED: "reject"})

    assert answer.status_code == 201
    assert answer.json_body["credits"] == {TEMPLATE: 1, ARRIVED: 0}
    found = subscriptions(templates)
    assert (found[TEMPLATE]["credits"], found[TEMPLATE]["last_result"]) == (1, allow)
    assert found[ARRIVED]["last_result"] == "reject"
    today = app_day(found[TEMPLATE]["last_result_at"])
    totals = templates.call("GET", f"/v1/stats?from={today}&to={today}").json_body["totals"]
    assert totals["grants_received"] == 1


@pytest.mark.parametrize("allow", ALLOWS)
def test_every_kind_of_allow_makes_a_long_term_grant_active(templates, allow):
    answer = report(templates, {LONG_TERM: allow})

    assert answer.status_code == 201
    assert answer.json_body["long_term"] == {LONG_TERM: "active"}
    assert subscriptions(templates)[LONG_TERM]["last_result"] == allow


@pytest.mark.parametrize("unknown", ["acceptWithHologram", ["accept"], 1, None])
def test_a_report_with_an_unknown_answer_is_refused_whole_naming_the_template(templates, unknown):
    answer = report(templates, {TEMPLATE: "accept", ARRIVED: unknown})

    assert answer.status_code == 400
    error = answer.json_body["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == [f"results.{ARRIVED}"]
    assert "acceptWithAudio" in error["fields"][0]["problem"]
    assert subscriptions(templates)[TEMPLATE]["credits"] == 0
