"""Fixtures: the pinned clock, moto-backed AWS, a seeded app, a Chalice test client and a WeChat
double. The helpers they use live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
import time_machine
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.bootstrap import Services
from infra.provision import Provisioned
from local import embedded_aws
from tests.support.aws import moto_stack
from tests.support.clocks import PINNED_AT, clock_for_processes
from tests.support.tenants import APP_ID, Api, Tenant, make_tenant
from tests.support.wechat import WeChatDouble


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> Iterator[time_machine.Traveller]:
    """The wall clock of the test, pinned (``@pytest.mark.at(instant)`` picks another start).

    Modules whose fixtures outlive one test (a running stack) pin it once, for the module.
    """
    marker = request.node.get_closest_marker("at")
    with clock_for_processes(marker.args[0] if marker else PINNED_AT) as traveller:
        yield traveller


@pytest.fixture(scope="session", autouse=True)
def embedded_aws_installed() -> None:
    """Every test runs on moto made to behave like AWS at scale (local.embedded_aws)."""
    embedded_aws.install()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    with moto_stack(monkeypatch) as resources:
        yield resources


@pytest.fixture
def services(aws: Provisioned) -> Services:
    return bootstrap.services()


@pytest.fixture
def tenant(services: Services) -> Tenant:
    return make_tenant(services, APP_ID, quiet_hours=None)


@pytest.fixture
def client(aws: Provisioned) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev") as chalice_client:
        yield chalice_client


@pytest.fixture
def api(client: Client, tenant: Tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def wx() -> Iterator[WeChatDouble]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield WeChatDouble(mock)
