"""The embedded AWS in this process: moto as local.embedded_aws makes it behave, with the table
and queues of infra/, and the environment pointing the service at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws

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
