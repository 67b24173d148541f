"""Which stack the CLI manages: the running local stack (--local) or a deployed stage."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass

import boto3
import typer
from botocore.exceptions import EndpointConnectionError

from chalicelib import bootstrap
from chalicelib.bootstrap import Services
from chalicelib.domain.records import App
from chalicelib.services.admin import UnknownApp
from cli.errors import OperatorError
from infra.provision import dead_letter_queue_name, send_queue_name, table_name
from local.config import HOST, LocalSettings

LOCAL_STAGE = "local"
LOCAL_REGION = "us-east-1"
# The ports `make run` listens on unless SUBMSG_AWS_PORT / SUBMSG_SANDBOX_PORT say otherwise.
LOCAL_AWS_PORT = str(LocalSettings.model_fields["aws_port"].default)
LOCAL_SANDBOX_PORT = str(LocalSettings.model_fields["sandbox_port"].default)
# The embedded moto server accepts any credentials; these only satisfy boto3.
MADE_UP_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True)
class Target:
    local: bool
    stage: str

    @property
    def effective_stage(self) -> str:
        return LOCAL_STAGE if self.local else self.stage


@dataclass(frozen=True)
class Connection:
    services: Services
    dead_letter_queue_name: str


def point_at_local_stack(environ: MutableMapping[str, str]) -> None:
    """moto and the WeChat sandbox of the running local stack; WECHAT_API_BASE wins if set."""
    port = environ.get("SUBMSG_AWS_PORT", LOCAL_AWS_PORT)
    environ["AWS_ENDPOINT_URL"] = f"http://{HOST}:{port}"
    if "AWS_ACCESS_KEY_ID" not in environ:
        environ.update(MADE_UP_CREDENTIALS)
    environ["AWS_DEFAULT_REGION"] = LOCAL_REGION
    if not environ.get("WECHAT_API_BASE"):
        sandbox_port = environ.get("SUBMSG_SANDBOX_PORT", LOCAL_SANDBOX_PORT)
        environ["WECHAT_API_BASE"] = f"http://{HOST}:{sandbox_port}"


def point_at_stage(environ: MutableMapping[str, str], stage: str) -> None:
    """Chalicelib's settings for ``stage``, with the send queue's URL asked of SQS."""
    sqs = boto3.client("sqs")
    try:
        queue = sqs.get_queue_url(QueueName=send_queue_name(stage))
    except sqs.exceptions.QueueDoesNotExist:
        raise OperatorError(
            f"Stage {stage!r} has no queue {send_queue_name(stage)} here: is it deployed, "
            "and is the AWS region right?"
        ) from None
    environ["SUBMSG_STAGE"] = stage
    environ["SUBMSG_TABLE_NAME"] = table_name(stage)
    environ["SUBMSG_SEND_QUEUE_URL"] = queue["QueueUrl"]


def connect(target: Target) -> Connection:
    if target.local:
        point_at_local_stack(os.environ)
    try:
        point_at_stage(os.environ, target.effective_stage)
    except EndpointConnectionError:
        if not target.local:
            raise
        raise OperatorError(
            f"No local stack answers at {os.environ['AWS_ENDPOINT_URL']}: start it with make run."
        ) from None
    bootstrap.reset()
    return Connection(bootstrap.services(), dead_letter_queue_name(target.effective_stage))


def connection(ctx: typer.Context) -> Connection:
    target = ctx.find_object(Target)
    if target is None:
        raise RuntimeError("the root command sets the target")
    return connect(target)


def services(ctx: typer.Context) -> Services:
    return connection(ctx).services


def require_app(services: Services, app_id: str) -> App:
    app = services.core.store.catalog.get_app(app_id)
    if app is None:
        raise UnknownApp(app_id)
    return app
