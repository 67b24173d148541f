"""The composition root: builds settings, clients and repositories once per container."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.cache import TtlCache
from chalicelib.adapters.queue import SendQueue
from chalicelib.adapters.secrets import Secrets
from chalicelib.adapters.store import Store
from chalicelib.adapters.store.dynamo import Dynamo
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.wechat import WeChatClient


@dataclass
class Services:
    settings: Settings
    store: Store
    queue: SendQueue
    secrets: Secrets
    config: TtlCache[Any]
    _wechat: WeChatClient | None = field(default=None, repr=False)
    ready_until: float = field(default=0.0, repr=False)  # monotonic; see chalicelib.health

    @property
    def wechat(self) -> WeChatClient:
        if self._wechat is None:
            from chalicelib.adapters.wechat import WeChatClient, WeChatConfig

            self._wechat = WeChatClient(
                WeChatConfig(
                    api_base=self.settings.wechat_api_base.rstrip("/"),
                    connect_timeout_s=self.settings.wechat_connect_timeout_s,
                    read_timeout_s=self.settings.wechat_read_timeout_s,
                )
            )
        return self._wechat


_built: dict[Settings, Services] = {}
_lock = threading.Lock()


def services() -> Services:
    """The services for the settings in force now (built on first use, then reused)."""
    settings = get_settings()
    with _lock:
        found = _built.get(settings)
        if found is None:
            found = _built[settings] = build(settings)
    return found


def build(settings: Settings) -> Services:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
    )
    db = Dynamo(session.client("dynamodb", config=config), settings.table_name)
    return Services(
        settings=settings,
        store=Store.create(db, settings.due_shards, settings.expiry_shards),
        queue=SendQueue(session.client("sqs", config=config), settings.send_queue_url),
        secrets=Secrets(
            session.client("ssm", config=config), settings.ssm_prefix, settings.secret_cache_s
        ),
        config=TtlCache(settings.cache_ttl_s),
    )


def reset() -> None:
    """Forget every built service and cache (tests, and the CLI after it changes config)."""
    with _lock:
        _built.clear()
