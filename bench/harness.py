"""An in-process submsg against moto, with WeChat answered by `responses`: what the bench drives."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.client
import responses
from chalice.test import Client
from moto import mock_aws

WECHAT = "http://wechat.bench"
APP_ID = "wx00000000000000be"
OPENID = "oBenchUser000000000000000001"
TEMPLATE = "TplBench000000000000000000000000000000001"
LAMBDA_INFRA_CALLS = {"ReceiveMessage", "DeleteMessageBatch", "GetQueueAttributes"}


@dataclass
class Recorded:
    service: str
    operation: str
    params: dict[str, Any]
    answer: dict[str, Any]


@dataclass
class CallCounter:
    """Records every AWS call; counts those submsg's code makes (not Lambda's SQS poller's)."""

    calls: Counter[str] = field(default_factory=Counter)
    log: list[Recorded] = field(default_factory=list)
    active: bool = False
    measured_from: int = 0

    def start(self) -> None:
        self.active, self.measured_from = True, len(self.log)

    def total(self) -> int:
        return sum(self.calls.values())


@contextmanager
def counting_calls() -> Iterator[CallCounter]:
    counter = CallCounter()
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if counter.active and operation not in LAMBDA_INFRA_CALLS:
            counter.calls[operation] += 1
        answer = original(self, operation, params)
        service = self.meta.service_model.service_name
        counter.log.append(Recorded(service, operation, params, answer))
        return answer

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


@contextmanager
def aws_environment(stage: str) -> Iterator[Any]:
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        SUBMSG_STAGE=stage,
        WECHAT_API_BASE=WECHAT,
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from chalicelib import bootstrap
    from chalicelib.adapters import wechat
    from infra.provision import provision
    from local import aws as embedded_aws

    embedded_aws.install()
    with mock_aws():
        resources = provision(boto3.session.Session(), stage=stage)
        os.environ["SUBMSG_TABLE_NAME"] = resources.table_name
        os.environ["SUBMSG_SEND_QUEUE_URL"] = resources.send_queue_url
        os.environ["SUBMSG_WEBHOOK_QUEUE_URL"] = resources.webhook_queue_url
        bootstrap.reset()
        wechat.clear_token_cache()
        yield resources
        bootstrap.reset()


@contextmanager
def wechat_accepting_everything(
    receiver: str | None = None, received: list[Any] | None = None
) -> Iterator[None]:
    """WeChat taking every card; with a ``receiver`` URL, a webhook receiver answering 204 and
    keeping each request in ``received``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        if receiver is not None:
            kept = received if received is not None else []
            mock.add_callback(
                responses.POST, receiver, callback=lambda r: kept.append(r) or (204, {}, "")
            )
        token = json.dumps({"access_token": "bench-token", "expires_in": 7200})
        mock.add(responses.POST, f"{WECHAT}/cgi-bin/stable_token", body=token)
        mock.add(
            responses.POST,
            f"{WECHAT}/cgi-bin/message/subscribe/send",
            body=json.dumps({"errcode": 0, "errmsg": "ok", "msgid": 1}),
        )
        yield


class Pipeline:
    """A seeded app with one template; create messages over HTTP, send them through SQS."""

    def __init__(self, resources: Any) -> None:
        from app import app
        from chalicelib import bootstrap
        from chalicelib.services import admin

        self.resources = resources
        self.client = Client(app, stage_name="dev")
        services = bootstrap.services()
        api_key = admin.create_app(
            services.app_secrets,
            # requests_per_second: the bench grants faster than a tenant's default limit
            admin.new_app(APP_ID, "Bench", quiet_hours=None, caps={}, requests_per_second=100_000),
            "bench-secret",
        )
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.put_template(TEMPLATE, {"thing1": "Item"})

    def put_template(self, template_id: str, keywords: dict[str, str]) -> None:
        body = {
            "title": "Order shipped",
            "kind": "one_time",
            "category": "transactional",
            "keywords": [{"key": key, "name": name} for key, name in keywords.items()],
        }
        self._call("PUT", f"/v1/templates/{template_id}", body)

    def _call(self, method: str, path: str, body: Any) -> Any:
        answer = self.client.http.request(
            method, path, body=json.dumps(body).encode(), headers=self.headers
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.body!r}")
        return answer.json_body

    def grant(self, count: int, template_id: str = TEMPLATE) -> None:
        for _ in range(count):
            self._call("POST", "/v1/grants", {"openid": OPENID, "results": {template_id: "accept"}})

    def create(self, template_id: str = TEMPLATE, data: dict[str, str] | None = None) -> str:
        data = data or {"thing1": "Blue mug"}
        body = {"openid": OPENID, "template_id": template_id, "data": data}
        return self._call("POST", "/v1/messages", body)["id"]

    def drain(self) -> int:
        import app as app_module
        from local.poller import poll_once

        sqs = boto3.client("sqs")
        handled = 0
        while count := poll_once(
            sqs, self.resources.send_queue_url, lambda event: app_module.send_worker(event, None)
        ):
            handled += count
        return handled
