"""`SUBMSG_LOCAL_METRICS=1 make run`: the running local stack prints the EMF documents of its
API (chalice local) and of its sender and sweeps, as Lambda would write them to the log."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from local.demo import ORDER_SHIPPED
from local.stack import LocalStack
from tests.e2e.test_e2e_local_stack import call, card_to, stack_settings, status_is, tap_and_report
from tests.integration.test_metrics import names
from tests.support.clocks import pinned_for_the_module, wait_for

pinned_clock = pinned_for_the_module()

SENT_TO = "oUserMetrics0000000000000001"
REFUSED = "oUserMetrics0000000000000002"


def documents(printed: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]


def test_the_stack_prints_emf_for_a_card_sent_refused_and_clicked_over_kept_connections(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("SUBMSG_LOCAL_METRICS", "1")
    settings = stack_settings()  # reads SUBMSG_* from the environment, as `make run` does
    assert settings.local_metrics
    with LocalStack(settings) as stack:
        tap_and_report(stack, SENT_TO, ORDER_SHIPPED.template_id)
        body = {"template_id": ORDER_SHIPPED.template_id, "data": ORDER_SHIPPED.example}
        created = call(stack, "POST", "/v1/messages", {**body, "openid": SENT_TO})
        assert created.status_code == 201, created.text
        refused = call(stack, "POST", "/v1/messages", {**body, "openid": REFUSED})
        assert refused.json()["error"]["code"] == "no_grant"
        message_id = created.json()["id"]
        wait_for(card_to(stack, SENT_TO))
        wait_for(status_is(stack, message_id, "sent"))
        clicked = call(stack, "POST", f"/v1/messages/{message_id}/events", {"type": "click"})
        assert clicked.status_code == 202
        assert requests.get(f"{stack.api}/v1/health", timeout=5).ok
        api_key = stack.api_key

    found = documents(capfd.readouterr().out)

    found_names = names(found)
    assert len(found_names) >= 4
    assert {"CardsRequested", "CardsSent", "Refusals", "CardsClicked"} <= found_names
    assert any(d.get("code") == "no_grant" and d["stage"] == "local" for d in found)
    printed = json.dumps(found)
    for private in (SENT_TO, REFUSED, message_id, api_key, settings.demo().secret):
        assert private not in printed
    # The loops and their handlers share each client: none may outgrow its connection pool.
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
