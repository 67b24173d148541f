"""Fixtures: moto-backed AWS, a seeded app, a Chalice test client and a WeChat double."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import responses
import time_machine
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters import wechat
from chalicelib.bootstrap import Services
from chalicelib.services import admin
from infra.provision import Provisioned, provision
from local import embedded_aws
from local.poller import poll_once

WECHAT = "http://wechat.test"
APP_ID = "wx0000000000000001"
OTHER_APP_ID = "wx0000000000000002"
SECRET = "made-up-app-secret-0001"
OPENID = "oUser0000000000000000000001"
TEMPLATE = "TplOrderShipped0000000000000000000000000001"
APP_TIMEZONE = ZoneInfo("Asia/Shanghai")  # the apps' default: statistics count its days
# Every test starts here, and the clock ticks on: Sunday in UTC, Monday 00:30 in Shanghai, so a
# test that mixes up the UTC date and the app's date, or the week's start, fails at once.
PINNED_AT = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)


CLOCK_SHIFT = Path(__file__).with_name("clock_shift")


@contextmanager
def clock_for_processes(start: datetime) -> Iterator[time_machine.Traveller]:
    """This process's wall clock starts at ``start`` and ticks; processes started meanwhile
    (the local stack's) read the same clock, through tests/clock_shift/sitecustomize.py."""
    with time_machine.travel(start, tick=True) as traveller, pytest.MonkeyPatch.context() as env:
        offset = start.timestamp() - time_machine.escape_hatch.time.time()
        env.setenv("SUBMSG_TEST_CLOCK_OFFSET_S", repr(offset))
        paths = [str(CLOCK_SHIFT), os.environ.get("PYTHONPATH", "")]
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
        yield traveller


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> Iterator[time_machine.Traveller]:
    """The wall clock of the test, pinned (``@pytest.mark.at(instant)`` picks another start).

    Modules whose fixtures outlive one test (a running stack) pin it once, for the module.
    """
    marker = request.node.get_closest_marker("at")
    with clock_for_processes(marker.args[0] if marker else PINNED_AT) as traveller:
        yield traveller


def pinned_for_the_module() -> Any:
    """For a module whose fixtures outlive one test: ``pinned_clock = pinned_for_the_module()``."""

    @pytest.fixture(scope="module", autouse=True)
    def pinned_clock() -> Iterator[time_machine.Traveller]:
        with clock_for_processes(PINNED_AT) as traveller:
            yield traveller

    return pinned_clock


def app_day(instant: str | datetime) -> str:
    """The statistics day of an instant: the date in the app's timezone, not in UTC."""
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return moment.astimezone(APP_TIMEZONE).date().isoformat()


@pytest.fixture(scope="session", autouse=True)
def embedded_aws_installed() -> None:
    """Every test runs on moto made to behave like AWS at scale (local.embedded_aws)."""
    embedded_aws.install()


def use_fake_aws_credentials(env: pytest.MonkeyPatch) -> None:
    """Made-up credentials and region for boto3, and no endpoint set from outside."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        env.setenv(name, value)
    env.delenv("AWS_ENDPOINT_URL", raising=False)


@contextmanager
def moto_stack(env: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    """moto in process, the table and queues from infra/, and the environment pointing at them."""
    use_fake_aws_credentials(env)
    for name, value in {
        "SUBMSG_STAGE": "dev",
        "WECHAT_API_BASE": WECHAT,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        env.setenv(name, value)
    with mock_aws():
        resources = provision(boto3.session.Session(), stage="dev")
        env.setenv("SUBMSG_TABLE_NAME", resources.table_name)
        env.setenv("SUBMSG_SEND_QUEUE_URL", resources.send_queue_url)
        bootstrap.reset()
        wechat.clear_token_cache()
        yield resources
        bootstrap.reset()
        wechat.clear_token_cache()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    with moto_stack(monkeypatch) as resources:
        yield resources


@pytest.fixture
def services(aws: Provisioned) -> Services:
    return bootstrap.services()


@dataclass
class Tenant:
    app_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


def make_tenant(services: Services, app_id: str, **settings: Any) -> Tenant:
    key = admin.create_app(services, admin.new_app(app_id, f"Demo {app_id}", **settings), SECRET)
    return Tenant(app_id, key)


@pytest.fixture
def tenant(services: Services) -> Tenant:
    return make_tenant(services, APP_ID, quiet_hours=None)


@pytest.fixture
def client(aws: Provisioned) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev") as chalice_client:
        yield chalice_client


class Api:
    """Calls the HTTP API as one tenant, JSON in and out."""

    def __init__(self, client: Client, tenant: Tenant) -> None:
        self.client, self.tenant = client, tenant

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        return self.client.http.request(
            method, path, body=payload, headers={**self.tenant.headers, **(headers or {})}
        )

    def put_template(self, template_id: str = TEMPLATE, **overrides: Any):
        body = {
            "title": "Order shipped",
            "kind": "one_time",
            "category": "transactional",
            "keywords": [
                {"key": "thing1", "name": "Item"},
                {"key": "character_string2", "name": "Order number"},
            ],
            **overrides,
        }
        return self.call("PUT", f"/v1/templates/{template_id}", body)

    def grant(self, openid: str = OPENID, template_id: str = TEMPLATE, result: str = "accept"):
        return self.call("POST", "/v1/grants", {"openid": openid, "results": {template_id: result}})

    def send(
        self,
        openid: str = OPENID,
        template_id: str = TEMPLATE,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        body = {
            "openid": openid,
            "template_id": template_id,
            "data": {"thing1": "Blue mug", "character_string2": "SO-2026-0001"},
            "page": "pages/order/detail?id=1",
            **extra,
        }
        return self.call("POST", "/v1/messages", body, headers)


@pytest.fixture
def api(client: Client, tenant: Tenant) -> Api:
    return Api(client, tenant)


class WeChatDouble:
    """WeChat's HTTP API through `responses`: a token endpoint and scripted send answers."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.answers: list[Any] = []
        self.sent: list[dict[str, Any]] = []  # cards WeChat accepted
        self.token_calls = 0
        mock.add_callback(responses.POST, f"{WECHAT}/cgi-bin/stable_token", callback=self._token)
        mock.add_callback(
            responses.POST, f"{WECHAT}/cgi-bin/message/subscribe/send", callback=self._send
        )

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.token_calls += 1
        return 200, {}, json.dumps({"access_token": "made-up-token", "expires_in": 7200})

    def _send(self, request: Any) -> Any:
        answer = self.answers.pop(0) if self.answers else {"errcode": 0, "errmsg": "ok"}
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return answer, {}, "upstream error"
        if answer.get("errcode") == 0:
            self.sent.append(json.loads(request.body))
            answer = {**answer, "msgid": 1000 + len(self.sent)}
        return 200, {}, json.dumps(answer)

    def then(self, *answers: Any) -> WeChatDouble:
        self.answers.extend(answers)
        return self


@pytest.fixture
def wx() -> Iterator[WeChatDouble]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield WeChatDouble(mock)


def drain(client: Client, aws: Provisioned, rounds: int = 5) -> int:
    """Hand every visible SQS message to the sender handler, as Lambda would."""
    import app

    sqs = boto3.client("sqs")
    handled = 0
    for _ in range(rounds):
        count = poll_once(sqs, aws.send_queue_url, lambda event: app.send_worker(event, None))
        if count == 0:
            break
        handled += count
    return handled


def scheduled_event() -> dict[str, Any]:
    """What EventBridge hands a scheduled Lambda."""
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-22T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/submsg-due-sweep"],
        "detail": {},
    }


def run_due_sweep() -> dict[str, int]:
    import app

    return app.due_sweep(scheduled_event(), None)


def run_expiry_sweep() -> dict[str, int]:
    import app

    return app.expiry_sweep(scheduled_event(), None)


def wait_for(found: Callable[[], Any], timeout_s: float = 20.0, every_s: float = 0.05) -> Any:
    """Poll ``found`` until it returns something truthy (bounded in time); that value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"nothing after {timeout_s} s")
