"""The embedded AWS in this process: moto as local.aws makes it behave, with the table
and queues of infra/, and the environment pointing the service at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from moto import mock_aws
from moto.kms import models as moto_kms

from chalicelib import bootstrap
from chalicelib.adapters import wechat
from infra.provision import Provisioned, provision
from tests.support.wechat import WECHAT


def use_fake_aws_credentials(env: pytest.MonkeyPatch) -> None:
    """Made-up credentials and region for boto3, and no endpoint set from outside."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        env.setenv(name, value)
    env.delenv("AWS_ENDPOINT_URL", raising=False)


def use_service_environment(
    env: pytest.MonkeyPatch, table_name: str, send_queue_url: str, sweep_queue_url: str
) -> None:
    """What the service reads at a container's start: its stage, table, queues and WeChat."""
    use_fake_aws_credentials(env)
    for name, value in {
        "SUBMSG_STAGE": "dev",
        "SUBMSG_TABLE_NAME": table_name,
        "SUBMSG_SEND_QUEUE_URL": send_queue_url,
        "SUBMSG_SWEEP_QUEUE_URL": sweep_queue_url,
        "WECHAT_API_BASE": WECHAT,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        env.setenv(name, value)


@contextmanager
def fresh_containers() -> Iterator[None]:
    """No container built before, nor a WeChat token fetched, outlives the stack (either way)."""
    bootstrap.reset()
    wechat.clear_token_cache()
    try:
        yield
    finally:
        bootstrap.use(None)
        wechat.clear_token_cache()


@dataclass(frozen=True)
class EmbeddedAws(Provisioned):
    """The embedded AWS as a backend of the flows: its queues are read through boto3."""

    name = "aws"

    def sqs(self) -> Any:
        return process_client("sqs")

    def webhook_sqs(self) -> Any:
        return process_client("sqs")

    def sweep_sqs(self) -> Any:
        return process_client("sqs")


def reuse_kms_key_material() -> None:
    """Every KMS key moto makes in this process holds the same private key of its spec.

    moto makes a KMS key for every table created with server-side encryption (the template's
    table is), and each new key generates an RSA-2048 private key (``Key.__init__`` calls
    ``moto.kms.models.generate_private_key``): most of a stack's set-up. submsg never encrypts
    with the key itself, and each key still has its own id, ARN and alias.
    """
    if not getattr(moto_kms.generate_private_key, "cache_info", None):
        moto_kms.generate_private_key = cache(moto_kms.generate_private_key)


# What the tests' clients leave out of each request, which the embedded AWS never reads (the
# service's own clients, ``bootstrap.aws`` without this session, send both, as AWS needs them):
# - botocore's standard User-Agent, built twice for every request (``UserAgentString.to_string``,
#   at the request's creation and again before it is sent), each of its parts escaped character
#   by character: about a tenth of an embedded AWS request's cost. A client whose Config names
#   its User-Agent sends that string as it is.
# - the SigV4 signature (``SigV4Auth.add_auth``: canonical request, hashes, HMACs), another
#   tenth. moto answers an unsigned request as it answers one signed with the made-up credentials
#   of ``use_fake_aws_credentials``: the default account, with IAM's checks off.
TESTS_USER_AGENT = "submsg-tests"
TESTS_CLIENT_CONFIG = Config(user_agent=TESTS_USER_AGENT, signature_version=UNSIGNED)


@cache
def shared_session() -> boto3.session.Session:
    """One boto3 session for every stack of this process: a new one reads botocore's service
    models from disk again, which cost most of a stack's set-up. Its clients send a fixed
    User-Agent and no signature (``TESTS_CLIENT_CONFIG``, under the Config the service gives each
    client)."""
    core = botocore.session.get_session()
    core.set_default_client_config(TESTS_CLIENT_CONFIG)
    return boto3.session.Session(botocore_session=core)


@cache
def process_client(service: str, endpoint_url: str | None = None) -> Any:
    """A client made once per process, for the tests' own work on every stack (a drain, setting
    up a stack): nobody's container, and a client costs more to make than most of its calls."""
    return shared_session().client(service, endpoint_url=endpoint_url)


class _Provisioner:
    """The session ``provision`` builds each stack's table and queues with."""

    client = staticmethod(process_client)


class StackClients:
    """The session a stack's containers are built on: each client (a service and its Config)
    made once for the stack, so the containers a test builds (``bootstrap.reset()`` after a
    setting changed, the CLI's own) share them, as a warm Lambda's invocations share its
    container's. Making a client copies botocore's event handlers and builds its class: about
    25 ms, more than the requests most tests make with it."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.session = session
        self.made: dict[tuple[str, str], Any] = {}

    def client(self, service: str, config: Config | None = None) -> Any:
        options = sorted(vars(config).get("_user_provided_options", {}).items()) if config else []
        key = (service, repr(options))
        if key not in self.made:
            self.made[key] = self.session.client(service, config=config)
        return self.made[key]


@contextmanager
def moto_stack(env: pytest.MonkeyPatch) -> Iterator[EmbeddedAws]:
    """moto in process, the table and queues from infra/, and the environment pointing at them;
    containers are built as bootstrap builds them for AWS, on the shared session."""
    use_fake_aws_credentials(env)
    with mock_aws(), fresh_containers():
        resources = provision(_Provisioner(), stage="dev")  # type: ignore[arg-type]
        use_service_environment(
            env, resources.table_name, resources.send_queue_url, resources.sweep_queue_url
        )
        env.setenv("SUBMSG_WEBHOOK_QUEUE_URL", resources.webhook_queue_url)
        clients = StackClients(shared_session())
        bootstrap.use(lambda settings: bootstrap.aws(settings, clients))
        yield EmbeddedAws(**vars(resources))
