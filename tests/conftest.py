"""Fixtures: the pinned clock, the backend the flows run on (the in-memory store, or the embedded
AWS), a seeded app, a Chalice test client and a WeChat double. Their helpers: tests/support/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
import time_machine
from chalice.test import Client
from hypothesis import settings

from chalicelib import bootstrap
from chalicelib.bootstrap import Services
from local import aws as embedded_aws
from tests.support.aws import EmbeddedAws, moto_stack, reuse_kms_key_material
from tests.support.clocks import PINNED_AT, clock_for_processes
from tests.support.events import Backend
from tests.support.memory import InMemory, memory_stack
from tests.support.tenants import APP_ID, Api, Tenant, make_tenant
from tests.support.wechat import WeChatDouble

# Rule tests assert what the rules answer, never how fast: hypothesis's per-example deadline would
# fail an example that a busy machine slowed down (speed is measured in `make bench`).
settings.register_profile("submsg", deadline=None)
settings.load_profile("submsg")


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
    """Every embedded AWS of the tests is moto made to behave like AWS at scale; as on AWS, a
    transaction in flight holds its items while others run (requests made at once, from
    threads, meet its holds and conflict)."""
    from local.aws import conflicts

    embedded_aws.install()
    conflicts.overlap = True
    reuse_kms_key_material()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedAws]:
    """The embedded AWS; a test that asks for it inspects AWS itself, and runs its flow on it."""
    with moto_stack(monkeypatch) as stack:
        yield stack


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemory]:
    """The in-memory table, queue and secrets, for every container the test builds."""
    with memory_stack(monkeypatch) as stack:
        yield stack


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    """What the flows run on: the in-memory store, unless the test is marked ``embedded_aws``
    (its module is, or it asks for ``aws`` to inspect AWS itself)."""
    on_aws = request.node.get_closest_marker("embedded_aws") is not None
    return request.getfixturevalue("aws" if on_aws else "memory")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for the embedded AWS runs all of its flow there: ``-m embedded_aws``
    selects it with the integration tier, ``-m "not embedded_aws"`` leaves it out."""
    for item in items:
        if "aws" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.embedded_aws)


@pytest.fixture
def services(backend: Backend) -> Services:
    return bootstrap.services()


@pytest.fixture
def tenant(services: Services) -> Tenant:
    return make_tenant(services, APP_ID, quiet_hours=None)


@pytest.fixture
def client(backend: Backend) -> Iterator[Client]:
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
