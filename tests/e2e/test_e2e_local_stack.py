"""End to end through the running local stack (what `make run` starts), over HTTP only.

The service's sweep look-ahead is shortened to 1 s here so that a reminder 3 to 4 s ahead is
left `scheduled` by the API (2 s or more to spare for the request) and goes out through the due
sweep, the queue delay and the sender.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local.config import LocalSettings
from local.demo import CLASS_STARTS, ORDER_SHIPPED
from local.stack import Endpoints, LocalStack
from tests.support.clocks import pinned_for_the_module, wait_for

ALLOWED_LATENESS_S = 3.0

pinned_clock = pinned_for_the_module()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(url_or_port: str | int) -> bool:
    port = url_or_port if isinstance(url_or_port, int) else int(url_or_port.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def stack_settings() -> LocalSettings:
    return LocalSettings(
        port=free_port(),
        aws_port=free_port(),
        sandbox_port=0,
        wechat_api_base=None,
        local_sweep_every_s=0.5,
    )


FIRST_ANSWERS: dict[str, int] = {}  # what a client got at the stack's first 200 from health


def calls_at_the_first_healthy_answer(api: str, api_key: str) -> dict[str, int]:
    """A client that polls health while the stack starts, then calls with the demo key at once."""
    headers = {"Authorization": f"Bearer {api_key}"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{api}/v1/health", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.02)
    tap = {
        "openid": "oUserE2E000000000000000000000",
        "results": {ORDER_SHIPPED.template_id: "accept"},
    }
    return {
        "templates": requests.get(f"{api}/v1/templates", headers=headers, timeout=10).status_code,
        "grants": requests.post(
            f"{api}/v1/grants", json=tap, headers=headers, timeout=10
        ).status_code,
    }


@pytest.fixture(scope="class")
def stack() -> Iterator[Endpoints]:
    settings = stack_settings()
    with (
        pytest.MonkeyPatch.context() as env,
        concurrent.futures.ThreadPoolExecutor(1) as starter,
    ):
        env.setenv("SUBMSG_SWEEP_INTERVAL_S", "1")
        running = LocalStack(settings)
        started = starter.submit(running.start)
        try:
            api, key = f"http://127.0.0.1:{settings.port}", settings.demo().api_key
            FIRST_ANSWERS.update(calls_at_the_first_healthy_answer(api, key))
            yield started.result(timeout=120)
        finally:
            running.stop()


def call(stack: Endpoints, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    return requests.request(method, f"{stack.api}{path}", json=body, headers=headers, timeout=10)


def tap_and_report(stack: Endpoints, openid: str, template_id: str) -> None:
    """The user taps 'allow' (sandbox); the mini-program's backend reports it (API)."""
    tap = {"appid": stack.app_id, "openid": openid, "results": {template_id: "accept"}}
    assert requests.post(f"{stack.sandbox}/sandbox/subscribe", json=tap, timeout=5).ok
    grant = call(stack, "POST", "/v1/grants", {"openid": openid, "results": tap["results"]})
    assert grant.status_code == 201, grant.text
    assert grant.json()["credits"] == {template_id: 1}


def card_to(stack: Endpoints, openid: str) -> Callable[[], dict[str, Any] | None]:
    def card() -> dict[str, Any] | None:
        cards = requests.get(f"{stack.sandbox}/sandbox/messages", timeout=5).json()
        return next((c for c in cards if c["touser"] == openid), None)

    return card


def status_is(stack: Endpoints, message_id: str, status: str) -> Callable[[], bool]:
    return lambda: call(stack, "GET", f"/v1/messages/{message_id}").json()["status"] == status


class TestThroughTheRunningStack:
    """One stack for these tests; it is stopped before the tests below start their own."""

    def test_a_client_that_saw_health_answer_200_is_served_at_once(self, stack):
        assert FIRST_ANSWERS == {"templates": 200, "grants": 201}

    def test_no_answer_of_any_route_known_or_not_quotes_a_key_or_a_secret(self, stack):
        forged = "made-up-forged-app-secret-0000"
        headers = {
            "Authorization": f"Bearer {stack.api_key}",
            "X-App-Secret": forged,
            "Content-Type": "application/json",
        }
        document = requests.get(f"{stack.api}/v1/openapi.json", timeout=10).json()
        known = [
            (method.upper(), path.replace("{", "").replace("}", ""))
            for path, operations in document["paths"].items()
            for method in operations
        ]
        unknown = [("GET", "/"), ("GET", "/v2/messages"), ("POST", "/v1/nope"), ("PUT", "/x/y/z")]
        assert len(known) >= 15
        for method, path in [*known, *unknown]:
            answer = requests.request(
                method,
                f"{stack.api}{path}",
                headers=headers,
                data=json.dumps({"secret": forged, "openid": forged}),
                timeout=10,
            )
            assert stack.api_key not in answer.text and forged not in answer.text, (method, path)
            assert answer.status_code < 500, (method, path, answer.text)
            if (method, path) in unknown:
                assert answer.status_code == 404
                assert answer.json()["error"]["code"] == "not_found"

    def test_a_card_sent_now_reaches_the_sandbox_and_reads_back_as_sent(self, stack):
        openid = "oUserE2E000000000000000000001"
        tap_and_report(stack, openid, ORDER_SHIPPED.template_id)

        body = {
            "openid": openid,
            "template_id": ORDER_SHIPPED.template_id,
            "data": ORDER_SHIPPED.example,
            "page": "pages/order/detail?id=7",
        }
        created = call(stack, "POST", "/v1/messages", body)
        assert created.status_code == 201, created.text
        message_id = created.json()["id"]

        card = wait_for(card_to(stack, openid))
        assert card["template_id"] == ORDER_SHIPPED.template_id
        assert card["data"] == {
            key: {"value": value} for key, value in ORDER_SHIPPED.example.items()
        }
        assert card["page"] == f"pages/order/detail?id=7&submsg_id={message_id}"
        wait_for(status_is(stack, message_id, "sent"))
        result = call(stack, "GET", f"/v1/messages/{message_id}").json()["result"]
        assert result["msgid"] == card["msgid"]

    def test_a_reminder_arrives_in_the_sandbox_on_time_and_never_early(self, stack):
        openid = "oUserE2E000000000000000000002"
        tap_and_report(stack, openid, CLASS_STARTS.template_id)
        send_at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)

        body = {
            "openid": openid,
            "template_id": CLASS_STARTS.template_id,
            "data": CLASS_STARTS.example,
            "send_at": send_at.isoformat(),
        }
        created = call(stack, "POST", "/v1/messages", body)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "scheduled"

        card = wait_for(card_to(stack, openid))
        lateness = card["received_at"] - send_at.timestamp()
        assert 0 <= lateness <= ALLOWED_LATENESS_S
        wait_for(status_is(stack, created.json()["id"], "sent"))


def test_stopping_the_stack_leaves_no_port_listening():
    settings = stack_settings()
    stack = LocalStack(settings)
    with stack as endpoints:
        assert requests.get(f"{endpoints.api}/v1/health", timeout=5).json() == {"status": "ok"}
        assert endpoints.sandbox is not None
        used = [settings.port, settings.aws_port, endpoints.sandbox]
        assert all(listening(port) for port in used)

    assert not any(listening(port) for port in used)
    assert stack.problem() is not None
