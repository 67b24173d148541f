"""`submsg webhooks` against the embedded AWS: an endpoint created, listed, shown, changed,
tested, its log read and a delivery retried, rotated and deleted; mistakes as one line."""

from __future__ import annotations

import pytest
import responses

from tests.integration.test_cli import assert_operator_error, invoke, protect_target_variables
from tests.support.events import drain_webhooks
from tests.support.tenants import APP_ID

URL = "https://receiver.example/hooks"


@pytest.fixture
def run(aws, monkeypatch, tenant):
    protect_target_variables(monkeypatch)
    return invoke


@pytest.fixture
def received():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        calls: list = []
        mock.add_callback(responses.POST, URL, callback=lambda r: calls.append(r) or (204, {}, ""))
        yield calls


def created_id(run) -> tuple[str, str]:
    result = run("webhooks", "create", APP_ID, URL, "--event", "message.sent")
    assert result.exit_code == 0, result.output
    rows = dict(
        [cell.strip() for cell in line.split("│")[1:3]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    )
    assert rows["url"] == URL and rows["events"] == "message.sent"
    assert "shown this once" in result.stderr
    return rows["id"], rows["secret"]


def test_the_webhooks_commands(run, aws, received):
    endpoint, secret = created_id(run)
    assert secret.startswith("whsec_")
    listed = run("webhooks", "list", APP_ID)
    assert endpoint in listed.stdout and "whsec_" not in listed.stdout
    shown = run("webhooks", "show", APP_ID, endpoint)
    assert "whsec_" not in shown.stdout and "enabled" in shown.stdout
    updated = run("webhooks", "update", APP_ID, endpoint, "--disable", "--description", "orders")
    assert updated.exit_code == 0 and "disabled" in updated.stdout
    run("webhooks", "update", APP_ID, endpoint, "--enable")
    tested = run("webhooks", "test", APP_ID, endpoint)
    assert tested.exit_code == 0, tested.output
    event = tested.stdout.strip()
    drain_webhooks(aws)
    log = run("webhooks", "deliveries", APP_ID, endpoint)
    assert event in log.stdout and "delivered" in log.stdout
    retried = run("webhooks", "retry", APP_ID, endpoint, event)
    assert retried.stdout.strip() == f"{event} pending"
    drain_webhooks(aws)
    assert [r.headers["webhook-id"] for r in received] == [event, event]
    rotated = run("webhooks", "rotate", APP_ID, endpoint)
    assert rotated.stdout.strip().startswith("whsec_") and "signs too until" in rotated.stderr
    assert run("webhooks", "delete", APP_ID, endpoint).exit_code == 0
    assert_operator_error(run("webhooks", "show", APP_ID, endpoint), "No webhook endpoint")


def test_a_refused_url_is_one_line_naming_it(run):
    result = run("webhooks", "create", APP_ID, "https://169.254.169.254/latest/meta-data")
    assert_operator_error(result, "url")
