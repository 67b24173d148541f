"""The composition root: settings, clients and repositories, built once per container."""

from __future__ import annotations

import threading

from chalicelib.adapters.cache import TtlCache
from chalicelib.adapters.store import Store
from chalicelib.ports import Services
from chalicelib.settings import Settings, get_settings

_built: Services | None = None
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


def build(settings: Settings) -> Services:
    """DynamoDB, SQS and SSM through boto3; WeChat over HTTP."""
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.queue import SqsQueue
    from chalicelib.adapters.secrets import Secrets
    from chalicelib.adapters.store.dynamo import DynamoTable

    session = boto3.session.Session()
    # Every request is built by the store's and queue's own operations from validated records,
    # and AWS validates it again: checking it in the client too costs CPU on every call.
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
        parameter_validation=False,
    )
    table = DynamoTable(session.client("dynamodb", config=config), settings.table_name)
    return Services(
        settings=settings,
        store=Store.create(table, settings),
        queue=SqsQueue(session.client("sqs", config=config), settings.send_queue_url),
        secrets=Secrets(
            session.client("ssm", config=config), settings.ssm_prefix, settings.secret_cache_s
        ),
        config=TtlCache(settings.cache_ttl_s),
        campaign_statuses=TtlCache(settings.campaign_status_cache_s),
    )


def build_in_memory(settings: Settings) -> Services:
    """Everything in this process: the in-memory table, queue and secrets (fast tests)."""
    from chalicelib.adapters.memory import MemoryQueue, MemorySecrets
    from chalicelib.adapters.store import layout
    from chalicelib.adapters.store.memory import MemoryTable

    return Services(
        settings=settings,
        store=Store.create(MemoryTable(layout.INDEXES), settings),
        queue=MemoryQueue(),
        secrets=MemorySecrets(),
        config=TtlCache(settings.cache_ttl_s),
        campaign_statuses=TtlCache(settings.campaign_status_cache_s),
    )


def use(built: Services) -> None:
    """Serve with ``built`` until ``reset`` (tests that run the handlers on the memory store)."""
    global _built
    with _lock:
        _built = built
