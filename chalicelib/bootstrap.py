"""The composition root: settings, clients and repositories, built once per container.

A container talks to three adapters (the table, the send queue, the secrets): DynamoDB, SQS and
SSM through boto3 by default; tests ``use`` others (the in-memory ones) for every container built
until they switch back. WeChat's API and the webhook receivers are reached through HTTP clients
made here on first use. Whatever the table, every request to it goes through the one retry policy
(``adapters.store.retry``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from chalicelib.adapters.cache import TtlCache
from chalicelib.adapters.store import Store
from chalicelib.adapters.store.retry import RetryingTable
from chalicelib.ports import LOCAL_STAGE, SendQueue, Table, WebhookPoster, WeChat
from chalicelib.ports import Secrets as SecretStore
from chalicelib.services.caches import CatalogCache
from chalicelib.services.deps import AppSecrets, Core, Delivering, OnFirstUse, Sending, Sweeping
from chalicelib.services.health import Readiness
from chalicelib.settings import Settings, get_settings

# Connections each AWS client keeps open. The threads that share one client (the due sweep's
# workers, up to 32; on the local stack, every loop and its handler's workers) would otherwise
# open and drop a connection on each call past botocore's default of 10.
POOL_CONNECTIONS = 64


@dataclass(frozen=True)
class Adapters:
    """What one container talks to."""

    table: Table
    queue: SendQueue
    secrets: SecretStore
    webhook_queue: SendQueue | None = None  # the webhook deliverer's
    sweep_queue: SendQueue | None = None  # the due sweep's fan-out, when there is one


Connect = Callable[[Settings], Adapters]


@dataclass(frozen=True)
class Services:
    """One container's parts, made once: each use case takes the part of its area
    (``services.deps``); the routes, the workers, the CLI and the tests hold this."""

    core: Core
    sending: Sending
    sweeping: Sweeping
    delivering: Delivering
    app_secrets: AppSecrets
    readiness: Readiness


_built: Services | None = None
_connect: Connect | None = None  # None: AWS
_lock = threading.Lock()


def services() -> Services:
    """The services of this container: built on first use from the environment, then reused."""
    global _built
    with _lock:
        if _built is None:
            _built = build(get_settings())
        return _built


def reset() -> None:
    """Forget the built services, so the next call reads the environment again (tests, CLI)."""
    global _built
    with _lock:
        _built = None


def use(connect: Connect | None) -> None:
    """Build every container from now on on what ``connect`` answers (None: AWS again)."""
    global _built, _connect
    with _lock:
        _built, _connect = None, connect


def build(settings: Settings, adapters: Adapters | None = None) -> Services:
    """One container's services on ``adapters``; by default what ``use`` chose, else AWS."""
    if adapters is None:
        adapters = (_connect or aws)(settings)
    store = Store.create(RetryingTable(adapters.table), settings)
    core = Core(
        settings=settings,
        store=store,
        queue=adapters.queue,
        catalog_cache=CatalogCache(TtlCache(settings.cache_ttl_s)),
        webhook_queue=adapters.webhook_queue,
        webhook_endpoints=TtlCache(settings.webhook_cache_s),
    )
    return Services(
        core=core,
        sending=Sending(
            core,
            adapters.secrets,
            OnFirstUse(partial(wechat_client, settings)),
            TtlCache(settings.campaign_status_cache_s),
        ),
        sweeping=Sweeping(core, adapters.sweep_queue),
        delivering=Delivering(core, OnFirstUse(partial(webhook_client, settings))),
        app_secrets=AppSecrets(core, adapters.secrets),
        readiness=Readiness(settings, store.catalog),
    )


def wechat_client(settings: Settings) -> WeChat:
    """WeChat's HTTP API at ``wechat_api_base`` (the local stack's sandbox, or WeChat)."""
    from chalicelib.adapters.wechat import WeChatClient, WeChatConfig

    return WeChatClient(
        WeChatConfig(
            api_base=settings.wechat_api_base.rstrip("/"),
            connect_timeout_s=settings.wechat_connect_timeout_s,
            read_timeout_s=settings.wechat_read_timeout_s,
        )
    )


def webhook_client(settings: Settings) -> WebhookPoster:
    """The deliverer's checked connections (a loopback receiver only on the local stack)."""
    from chalicelib.adapters.webhook_http import WebhookClient

    return WebhookClient(
        settings.webhook_connect_timeout_s,
        settings.webhook_read_timeout_s,
        allow_loopback=settings.stage == LOCAL_STAGE,
    )


def aws(settings: Settings, session: Any = None) -> Adapters:
    """DynamoDB, SQS and SSM through boto3 (``session``: a boto3 session to reuse)."""
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.queue import SqsQueue
    from chalicelib.adapters.secrets import Secrets
    from chalicelib.adapters.store.dynamo import DynamoTable

    session = session or boto3.session.Session()
    # Every request is built by the store's and queue's own operations from validated records,
    # and AWS validates it again: checking it in the client too costs CPU on every call.
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
        parameter_validation=False,
        max_pool_connections=POOL_CONNECTIONS,
    )
    sqs = session.client("sqs", config=config)
    return Adapters(
        table=DynamoTable(session.client("dynamodb", config=config), settings.table_name),
        queue=SqsQueue(sqs, settings.send_queue_url),
        secrets=Secrets(
            session.client("ssm", config=config), settings.ssm_prefix, settings.secret_cache_s
        ),
        webhook_queue=SqsQueue(sqs, settings.webhook_queue_url),
        sweep_queue=SqsQueue(sqs, settings.sweep_queue_url) if settings.sweep_queue_url else None,
    )


def in_memory() -> Adapters:
    """The in-memory table, queue and secrets."""
    from chalicelib.adapters.memory import MemoryQueue, MemorySecrets
    from chalicelib.adapters.store import layout
    from chalicelib.adapters.store.memory import MemoryTable

    return Adapters(MemoryTable(layout.INDEXES), MemoryQueue(), MemorySecrets(), MemoryQueue())


def build_in_memory(settings: Settings) -> Services:
    """Everything in this process: the in-memory table, queue and secrets (fast tests)."""
    return build(settings, in_memory())
