"""The deployed IAM policy allows exactly the AWS actions the handlers perform
(docs/deploy.md#what-the-template-adds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import botocore.client
import pytest
import time_machine

from infra.provision import allowed_actions
from tests.support.events import drain, run_due_sweep, run_expiry_sweep
from tests.support.tenants import OPENID

# Lambda's SQS event source mapping calls these with the function's role, not the code.
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# SSM decrypts SecureString parameters through KMS on the caller's behalf.
IMPLIED_ACTIONS = {"kms:Decrypt"}
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}


def iam_actions(service: str, operation: str, params: dict) -> set[str]:
    """The IAM actions that authorise one API call."""
    if operation == "TransactWriteItems":
        return {
            f"dynamodb:{TRANSACT_ACTIONS[next(iter(item))]}" for item in params["TransactItems"]
        }
    return {f"{service}:{BATCH_ACTIONS.get(operation, operation)}"}


class Recorder:
    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.on = False


@pytest.fixture
def performed() -> Iterator[Recorder]:
    """Records the IAM actions of every AWS call once started (seeding is not a handler)."""
    recorder = Recorder()
    original = botocore.client.BaseClient._make_api_call

    def call(self, operation, params):
        if recorder.on:
            service = self.meta.service_model.signing_name
            recorder.actions.update(iam_actions(service, operation, params))
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = call
    yield recorder
    botocore.client.BaseClient._make_api_call = original


def test_every_action_the_handlers_perform_is_allowed_and_every_allowed_one_is_used(
    api, wx, client, aws, performed
):
    performed.on = True
    api.put_template()
    api.put_template("TplShortLived000000000000000000000000000001", grant_ttl_days=1)
    for _ in range(3):
        api.grant()
    api.grant(template_id="TplShortLived000000000000000000000000000001")
    api.call("PUT", f"/v1/users/{OPENID}/preferences", {"timezone": "Asia/Shanghai"})
    opened = datetime.now(UTC).isoformat()
    api.call("POST", "/v1/activity", {"events": [{"openid": OPENID, "at": opened, "kind": "open"}]})
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = api.send(send_at=later).json_body["id"]
    api.call("PATCH", f"/v1/messages/{scheduled}", {"send_at": later})
    api.call("DELETE", f"/v1/messages/{scheduled}")
    wx.then(
        {"errcode": -1, "errmsg": "busy"},
        {"errcode": 0, "errmsg": "ok"},
        {"errcode": 43101, "errmsg": "no subscription"},
    )
    first = api.send(headers={"Idempotency-Key": "iam-1"}).json_body["id"]
    drain(client, aws)  # busy: ChangeMessageVisibility
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=3), tick=True):
        run_due_sweep()
        drain(client, aws)
    api.call("POST", f"/v1/messages/{first}/events", {"type": "click"})
    api.send()
    drain(client, aws)  # 43101 drops the remaining credits: BatchWriteItem
    api.call("GET", f"/v1/users/{OPENID}/messages")
    api.call("GET", "/v1/stats?from=2026-01-01&to=2026-12-31")
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2), tick=True):
        run_expiry_sweep()
    api.call("DELETE", f"/v1/users/{OPENID}")

    allowed = allowed_actions()
    assert performed.actions <= allowed | IMPLIED_ACTIONS
    assert allowed - EVENT_SOURCE_ACTIONS - IMPLIED_ACTIONS <= performed.actions
