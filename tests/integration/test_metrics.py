"""Metrics as the handlers print them: EMF documents on stdout, read back through the real
routes, SQS handler and due sweep."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import bootstrap
from chalicelib.adapters import metrics
from chalicelib.adapters.metrics import Dimension, Metric, WebhookOutcome
from chalicelib.domain import clock
from chalicelib.domain.lifecycle import LIFECYCLE
from chalicelib.services import admin
from chalicelib.services.caches import Entry
from tests.flows.test_flow_campaigns import create, grant_all, promo, until_done, users  # noqa: F401
from tests.support.events import drain, run_due_sweep
from tests.support.tenants import APP_ID, OPENID, SECRET

Documents = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def emf(aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Documents:
    """The EMF documents printed since the last call (metrics on, as in a deployed stage)."""
    metrics.flush("dev")  # what earlier tests recorded, dropped while metrics were still off
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()

    def documents() -> list[dict[str, Any]]:
        lines = capsys.readouterr().out.splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"_aws"')]

    return documents


def names(documents: list[dict[str, Any]]) -> set[str]:
    return {
        metric["Name"]
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def total(documents: list[dict[str, Any]], metric: Metric, **dimensions: str) -> float:
    """The sum of ``metric`` over the documents carrying these dimension values."""
    found = 0.0
    for document in documents:
        if metric in document and all(document.get(k) == v for k, v in dimensions.items()):
            value = document[metric]
            found += sum(value) if isinstance(value, list) else value
    return found


def test_a_card_sent_refused_and_clicked_prints_metrics_without_user_data(
    api, wx, client, aws, emf
):
    api.put_template()
    api.grant()
    created = api.send()
    assert created.status_code == 201, created.json_body
    drain(client, aws)
    refused = api.send()
    assert refused.json_body["error"]["code"] == "no_grant"
    message_id = created.json_body["id"]
    clicked = api.call("POST", f"/v1/messages/{message_id}/events", {"type": "click"})
    assert clicked.status_code == 202

    documents = emf()

    expected = {
        Metric.REQUESTS,
        Metric.CARDS_REQUESTED,
        Metric.CARDS_SENT,
        Metric.SEND_LATENESS,
        Metric.REFUSALS,
        Metric.CARDS_CLICKED,
        Metric.WECHAT_TOKEN_FETCHES,
    }
    assert expected <= names(documents)
    assert total(documents, Metric.CARDS_SENT, app_id=APP_ID) == 1
    assert total(documents, Metric.REFUSALS, code="no_grant") == 1
    assert total(documents, Metric.CARDS_CLICKED, app_id=APP_ID) == 1
    assert total(documents, Metric.REQUESTS) == 5
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "submsg"
        assert document["service"] == "submsg" and document["stage"] == "dev"
    printed = json.dumps(documents)
    for private in (OPENID, api.tenant.api_key, SECRET, message_id, "made-up-token"):
        assert private not in printed


def test_every_dimension_value_comes_from_a_bounded_set(api, wx, client, aws, emf):
    api.put_template()
    for _ in range(5):
        api.grant()
    wx.then(
        {"errcode": 47003, "errmsg": "argument invalid! data.thing1.value"},
        {"errcode": 43101, "errmsg": "user refuse to accept the msg"},
        {"errcode": -1, "errmsg": "system error"},
        requests.ReadTimeout("read timed out"),
    )
    for _ in range(4):
        api.send()
    drain(client, aws)
    api.grant()  # 43101 dropped the user's credits
    cancel = api.send(send_at=(clock.now() + timedelta(hours=2)).isoformat())
    api.call("DELETE", f"/v1/messages/{cancel.json_body['id']}")
    api.call("POST", "/v1/messages", {"openid": OPENID})
    api.call("GET", "/v1/messages/msg_unknown")
    client.http.request("GET", "/v1/templates", headers={"Authorization": "Bearer wrong-key"})
    run_due_sweep()

    documents = emf()

    allowed = {
        Dimension.SERVICE: {"submsg"},
        Dimension.STAGE: {"dev"},
        Dimension.APP: {APP_ID},
        Dimension.CODE: metrics.ERROR_CODES | {metrics.OTHER_CODE},
    }
    codes = {d["code"] for d in documents if "code" in d}
    assert {"validation_error", "not_found", "unauthorized"} <= codes
    assert {Metric.CARDS_FAILED, Metric.CARDS_UNKNOWN, Metric.CARDS_RETRIED} <= names(documents)
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        for dimension_set in directive["Dimensions"]:
            assert dimension_set[:2] == ["service", "stage"]
            assert len(dimension_set) <= 3
            for name in dimension_set:
                assert document[name] in allowed[Dimension(name)], (name, document[name])


@pytest.mark.parametrize(
    ("answers", "counted"),
    [
        ([{"errcode": 47003, "errmsg": "data.thing1.value"}], Metric.WECHAT_CONTENT_ERRORS),
        ([{"errcode": 43101, "errmsg": "user refuse"}], Metric.WECHAT_UNSUBSCRIBED),
        ([{"errcode": 45009, "errmsg": "reach max api daily quota limit"}], Metric.WECHAT_QUOTA),
        ([{"errcode": 45011, "errmsg": "api minute-quota reach limit"}], Metric.WECHAT_BUSY),
        ([503], Metric.WECHAT_BUSY),
        ([requests.ReadTimeout("read timed out")], Metric.WECHAT_UNKNOWN),
        ([{"errcode": 40001, "errmsg": "invalid credential"}] * 2, Metric.WECHAT_TOKEN_ERRORS),
    ],
)
def test_wechat_answers_are_counted_by_errcode_class(api, wx, client, aws, emf, answers, counted):
    api.put_template()
    api.grant()
    wx.then(*answers)
    assert api.send().status_code == 201
    drain(client, aws, rounds=1)

    documents = emf()

    assert total(documents, counted) == len(answers)
    errors = {m for m in Metric if m.name.startswith("WECHAT_") and m != counted}
    assert errors & names(documents) <= {Metric.WECHAT_TOKEN_FETCHES}


def test_a_token_refused_once_counts_a_token_error_a_new_token_and_a_sent_card(
    api, wx, client, aws, emf
):
    api.put_template()
    api.grant()
    wx.then({"errcode": 40001, "errmsg": "invalid credential"})
    api.send()
    drain(client, aws)

    documents = emf()

    assert total(documents, Metric.WECHAT_TOKEN_ERRORS) == 1
    assert total(documents, Metric.WECHAT_TOKEN_FETCHES) == wx.token_calls == 2
    assert total(documents, Metric.CARDS_SENT, app_id=APP_ID) == 1


def test_the_due_sweep_reports_how_long_the_oldest_due_message_waited(api, aws, emf, pinned_clock):
    api.put_template()
    api.grant()
    send_at = clock.now() + timedelta(hours=1)
    assert api.send(send_at=send_at.isoformat()).json_body["status"] == "scheduled"
    run_due_sweep()
    assert total(emf(), Metric.SWEEP_LAG) == 0

    pinned_clock.shift(3600 + 90)  # the sweeps stopped for a minute and a half past send_at
    run_due_sweep()

    documents = emf()
    assert 90 <= total(documents, Metric.SWEEP_LAG) < 95
    assert next(d for d in documents if Metric.SWEEP_LAG in d)["_aws"]["CloudWatchMetrics"][0][
        "Metrics"
    ] == [{"Name": "SweepLag", "Unit": "Seconds"}]


def test_a_campaign_counts_the_cards_its_fan_out_wrote(api, wx, client, aws, promo, emf):  # noqa: F811
    holders = users(7)
    grant_all(api, holders)
    created = create(api)
    assert created.status_code == 201, created.json_body

    until_done(client, aws, api, created.json_body["id"], None)

    documents = emf()
    assert total(documents, Metric.CAMPAIGN_CARDS, app_id=APP_ID) == 7
    assert total(documents, Metric.CARDS_SENT, app_id=APP_ID) == 7


def test_requests_over_the_apps_limit_are_counted_per_app_and_as_refusals(api, services, emf):
    admin.update_app(services.core, APP_ID, {"requests_per_second": 1})
    bootstrap.services().core.catalog_cache.forget(Entry.APP, APP_ID)
    answers = [api.call("GET", "/v1/templates").status_code for _ in range(3)]
    assert 429 in answers

    documents = emf()

    refused = answers.count(429)
    assert total(documents, Metric.RATE_LIMITED, app_id=APP_ID) == refused
    assert total(documents, Metric.REFUSALS, code="rate_limited") == refused


def answer_once(client: Any, operation: str, status: int, body: dict[str, Any]) -> None:
    """DynamoDB answers the next ``operation`` request of ``client`` with this error (moto does
    not see that request: its address is changed; botocore's retry sends a new one)."""
    waiting = [True]

    def intercept(request: Any, **_: Any) -> AWSResponse | None:
        if not waiting:
            return None
        waiting.clear()
        request.url = "https://injected.invalid/"
        raw = MockRawResponse(json.dumps(body).encode())
        return AWSResponse(request.url, status, {"x-amzn-RequestId": "injected"}, raw)

    client.meta.events.register_first(f"before-send.dynamodb.{operation}", intercept)


def error(code: str, **fields: Any) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **fields}


@pytest.fixture
def dynamodb(services) -> Iterator[Any]:
    yield services.core.store.table.client


def test_a_transaction_conflict_retried_by_the_store_is_counted(api, dynamodb, emf):
    api.put_template()
    api.grant()
    conflict = error(
        "TransactionCanceledException", CancellationReasons=[{"Code": "TransactionConflict"}]
    )
    answer_once(dynamodb, "TransactWriteItems", 400, conflict)

    assert api.send().status_code == 201

    assert total(emf(), Metric.STORE_CONFLICTS_RETRIED) == 1


def test_a_throttled_request_retried_by_botocore_is_counted(api, dynamodb, emf):
    answer_once(dynamodb, "UpdateItem", 400, error("ThrottlingException"))

    assert api.call("GET", "/v1/templates").status_code == 200  # its rate limit's counter

    assert total(emf(), Metric.STORE_THROTTLES) == 1


def test_with_metrics_off_nothing_is_printed_and_nothing_is_kept_for_later(
    api, wx, client, aws, emf, monkeypatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    api.put_template()
    api.grant()
    api.send()
    drain(client, aws)
    assert emf() == []

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    api.call("GET", "/v1/health")

    assert names(emf()) == {Metric.REQUESTS}


def test_every_move_that_ends_or_delays_a_card_has_its_metric():
    for move, rule in LIFECYCLE.items():
        if rule.finishes or rule.release_cap:
            assert move in metrics.MOVES, move


def test_the_webhook_hook_counts_deliveries_by_outcome_per_app(emf):
    for outcome in (WebhookOutcome.DELIVERED, WebhookOutcome.DELIVERED, WebhookOutcome.FAILED):
        metrics.webhook_delivery(APP_ID, outcome)
    metrics.flush("dev")

    documents = emf()
    assert total(documents, Metric.WEBHOOKS_DELIVERED, app_id=APP_ID) == 2
    assert total(documents, Metric.WEBHOOKS_FAILED, app_id=APP_ID) == 1


class Writes:
    """A stdout that keeps each write apart, as two processes sharing one file see them."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_document_reaches_stdout_in_one_write_with_its_newline(emf):
    stdout = Writes()
    with contextlib.redirect_stdout(stdout):  # type: ignore[type-var]
        metrics.webhook_delivery(APP_ID, WebhookOutcome.DELIVERED)
        metrics.webhook_delivery("wx00000000000000b2", WebhookOutcome.FAILED)
        metrics.flush("dev")

    assert len(stdout.writes) == 2
    for write in stdout.writes:
        assert write.endswith("\n") and write.count("\n") == 1
        assert json.loads(write)["_aws"]["CloudWatchMetrics"]
