"""The pipeline under DynamoDB's load faults and Lambda's deadlines (docs/resilience.md), through
the real entry points: conflicts and throttles retried up to the request's deadline, then 503
with Retry-After, never 500; a credit holder never refused for contention; the sender's claim only
with the time to finish, its record of WeChat's answer retried until it lands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import responses

from chalicelib import bootstrap
from chalicelib.adapters.wechat import clear_token_cache
from chalicelib.domain import clock
from chalicelib.ports import Conflict, Throttled
from local.poller import poll_once
from tests.flows.test_flow_campaigns import create, grant_all, promo_template, users
from tests.support.faults import lambda_context, with_faults, writes_named
from tests.support.tenants import OPENID, TEMPLATE
from tests.support.wechat import WECHAT


@pytest.fixture
def faults(memory, tenant):
    return with_faults(memory)


@pytest.fixture
def short_deadline(monkeypatch):
    """API requests may take 0.3 s (instead of 8 s): a table busy past that is quick to show."""
    monkeypatch.setenv("SUBMSG_REQUEST_DEADLINE_S", "0.3")
    bootstrap.reset()


def credits(api) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == TEMPLATE)


def status_of(api, message_id: str) -> dict[str, Any]:
    return api.call("GET", f"/v1/messages/{message_id}").json_body


def worker_with(remaining_s: float, answers: list[dict[str, Any]]):
    """The send handler as Lambda invokes it with ``remaining_s`` left; its answers kept."""
    import app

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        answer = app.send_worker(event, lambda_context(remaining_s))
        answers.append(answer)
        return answer

    return handle


def drain_with(memory, remaining_s: float = 20.0) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    poll_once(memory.sqs(), memory.send_queue_url, worker_with(remaining_s, answers))
    return answers


# The API under conflicts and throttles -----------------------------------------------------


def test_a_reservation_that_meets_conflicts_still_takes_the_credit(api, faults):
    api.put_template()
    api.grant()
    faults.fail("commit", Conflict, times=3, matches=writes_named("credit", "message"))

    created = api.send()

    assert created.status_code == 201, created.json_body
    assert faults.failed == [("commit", "Conflict")] * 3
    assert credits(api) == 0


def test_a_conflict_is_never_no_grant_only_a_credit_really_taken_is(api, faults):
    api.put_template()
    api.grant()
    for _ in range(2):  # each send meets a conflict first
        faults.fail("commit", Conflict, times=2, matches=writes_named("credit", "message"))

    first, second = api.send(), api.send()

    assert first.status_code == 201, first.json_body
    assert second.status_code == 409
    assert second.json_body["error"]["code"] == "no_grant"
    assert len(faults.failed) == 4  # both met their conflicts; only the second found no credit


def test_a_throttled_single_write_is_retried_and_the_route_answers(api, faults):
    api.put_template()
    faults.fail("write", Throttled, times=2)  # the request's rate-limit counter, an UpdateItem
    faults.fail("write", Conflict, times=1)  # a transaction in flight held it

    listed = api.call("GET", "/v1/templates")

    assert listed.status_code == 200
    assert [error for _, error in faults.failed] == ["Throttled", "Throttled", "Conflict"]


def test_a_table_throttled_past_the_deadline_answers_503_with_retry_after(
    api, faults, short_deadline
):
    api.put_template()
    api.grant()
    faults.fail("commit", Throttled, times=None, matches=writes_named("credit", "message"))

    refused = api.send()

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert refused.json_body == {
        "error": {"code": "unavailable", "message": "The service is busy; try again shortly."}
    }
    assert len(faults.failed) > 1  # retried until the deadline, not given up at once
    faults.clear()
    assert credits(api) == 1  # nothing was taken
    assert api.send().status_code == 201


def test_conflicts_past_the_deadline_on_any_route_answer_503_never_500(api, faults, short_deadline):
    api.put_template()
    faults.fail("write", Conflict, times=None)  # every single-item write: the rate limit's

    answers = [
        api.call("GET", "/v1/templates"),
        api.grant(),
        api.call("GET", f"/v1/users/{OPENID}/subscriptions"),
    ]

    assert [a.status_code for a in answers] == [503, 503, 503]
    assert {a.headers["Retry-After"] for a in answers} == {"1"}
    assert {a.json_body["error"]["code"] for a in answers} == {"unavailable"}


# The sender ------------------------------------------------------------------------------


def the_record(writes: Any) -> bool:
    """The sender's record of WeChat's answer: the message's move without the claim's checks."""
    return "message" in writes and "preferences" not in writes and "credit" not in writes


def test_the_record_of_an_answer_wechat_gave_is_retried_until_it_lands(api, memory, faults, wx):
    api.put_template()
    api.grant()
    created = api.send().json_body
    faults.fail("commit", Conflict, times=3, matches=the_record)
    faults.fail("commit", Throttled, times=2, matches=the_record)

    answers = drain_with(memory)

    found = status_of(api, created["id"])
    assert found["status"] == "sent"  # not left "sending", to become "unknown"
    assert found["result"]["errcode"] == 0
    assert len(wx.sent) == 1
    assert answers == [{"batchItemFailures": []}]
    assert len(faults.failed) == 5


def test_a_card_is_not_claimed_without_the_time_to_send_and_record_it(
    api, memory, wx, pinned_clock
):
    api.put_template()
    api.grant()
    created = api.send().json_body

    # 10 s left: less than WeChat's 3.05 s + 10 s and the time to record the answer
    answers = drain_with(memory, remaining_s=10.0)

    found = status_of(api, created["id"])
    assert found["status"] == "queued"  # not claimed, not failed: left for a later attempt
    assert found["attempts"] == 0
    assert wx.sent == []
    (answer,) = answers
    assert len(answer["batchItemFailures"]) == 1
    assert credits(api) == 0  # still reserved for it
    pinned_clock.shift(2)  # it was made visible again a second later, for another invocation

    sent = drain_with(memory, remaining_s=20.0)

    assert sent == [{"batchItemFailures": []}]
    assert status_of(api, created["id"])["status"] == "sent"
    assert len(wx.sent) == 1


def test_records_an_invocation_has_no_time_for_come_back_as_batch_failures(api, memory, wx):
    api.put_template()
    for n in range(3):
        api.grant()
        assert api.send(data={"thing1": f"Mug {n}", "character_string2": "SO-1"}).status_code == 201

    answers = drain_with(memory, remaining_s=1.5)  # less than the time kept to answer

    (answer,) = answers
    assert len(answer["batchItemFailures"]) == 3
    assert wx.sent == [] and wx.token_calls == 0  # nothing was even begun


def test_the_token_is_fetched_before_the_claim(api, memory, services, wx):
    clear_token_cache()
    api.put_template()
    api.grant()
    created = api.send().json_body
    seen: list[str] = []

    def token(request: Any) -> tuple[int, dict[str, str], str]:
        seen.append(services.core.store.messages.get(created["id"]).status.value)
        return wx._token(request)

    wx.mock.remove(responses.POST, f"{WECHAT}/cgi-bin/stable_token")
    wx.mock.add_callback(responses.POST, f"{WECHAT}/cgi-bin/stable_token", callback=token)

    drain_with(memory)

    assert seen == ["queued"]  # the token came while the card was still unclaimed
    assert status_of(api, created["id"])["status"] == "sent"


def test_a_token_wechat_refuses_leaves_the_card_retried_not_unknown(api, memory, services, wx):
    clear_token_cache()
    api.put_template()
    api.grant()
    created = api.send().json_body
    wx.mock.remove(responses.POST, f"{WECHAT}/cgi-bin/stable_token")
    wx.mock.add(
        responses.POST,
        f"{WECHAT}/cgi-bin/stable_token",
        json={"errcode": 40013, "errmsg": "invalid appid"},
    )

    answers = drain_with(memory)

    found = status_of(api, created["id"])
    assert found["status"] == "queued"  # released for a retry with backoff
    assert found["result"]["errcode"] == 40013
    assert wx.sent == []
    assert len(answers[0]["batchItemFailures"]) == 1


# The scheduled runs ----------------------------------------------------------------------


def expiry_sweep_with(remaining_s: float) -> dict[str, Any]:
    import app
    from tests.support.events import scheduled_event

    return app.expiry_sweep(scheduled_event(), lambda_context(remaining_s))


def test_the_expiry_sweep_stops_at_the_invocations_deadline_and_the_next_run_goes_on(
    api, pinned_clock
):
    api.put_template(grant_ttl_days=1)
    for _ in range(3):
        api.grant()
    pinned_clock.shift(2 * 24 * 3600)

    cut_short = expiry_sweep_with(1.0)  # less than the time kept to answer

    assert (cut_short["expired"], cut_short["unfinished"]) == (0, True)
    whole = expiry_sweep_with(60.0)
    assert (whole["expired"], whole["unfinished"]) == (3, False)


def test_an_expiry_sweep_whose_table_stays_busy_ends_unfinished_not_failed(
    api, faults, pinned_clock
):
    api.put_template(grant_ttl_days=1)
    api.grant()
    pinned_clock.shift(2 * 24 * 3600)
    faults.fail("commit", Throttled, times=None)

    busy = expiry_sweep_with(2.4)  # 0.4 s of work after the time kept to answer

    assert (busy["expired"], busy["unfinished"]) == (0, True)
    assert len(faults.failed) > 1
    faults.clear()
    assert expiry_sweep_with(60.0)["expired"] == 1


def due_sweep_with(remaining_s: float) -> dict[str, Any]:
    import app
    from tests.support.events import scheduled_event

    return app.due_sweep(scheduled_event(), lambda_context(remaining_s))


def test_the_campaign_tick_stops_at_the_invocations_deadline_and_the_next_tick_goes_on(
    api, services, monkeypatch
):
    promo_template(api, services, monkeypatch)
    grant_all(api, users(2))
    starts = (clock.now() + timedelta(seconds=30)).isoformat()
    created = create(api, send_at=starts).json_body
    assert created["status"] == "scheduled"

    cut_short = due_sweep_with(1.0)  # less than the time kept to answer

    assert (cut_short["campaigns"], cut_short["unfinished"]) == (0, True)
    assert api.call("GET", f"/v1/campaigns/{created['id']}").json_body["status"] == "scheduled"
    assert due_sweep_with(20.0)["campaigns"] == 1
    assert api.call("GET", f"/v1/campaigns/{created['id']}").json_body["status"] == "running"
