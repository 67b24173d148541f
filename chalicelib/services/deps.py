"""What each area of the use cases takes: small frozen sets of dependencies, built once per
container by the composition root (``bootstrap``), each holding only what its area uses.

- ``Core``: what every use case stands on (settings, the store's repositories, the send queue,
  the catalog read through its cache, and the outbox's hand-over: each app's endpoints read
  through theirs, the deliverer's queue). A message or campaign move reports its webhook events,
  so the outbox's parts are every move's parts.
- ``Sending``: the sender's: the core, the apps' secrets, WeChat, what it sees of campaigns.
- ``Sweeping``: the due sweep's: the core, the sweep queue its groups go to.
- ``Delivering``: the webhook deliverer's: the core, the HTTP client that posts events.
- ``AppSecrets``: the callback's and the admin's: the core, the apps' secrets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.adapters.cache import TtlCache
    from chalicelib.adapters.store import Store
    from chalicelib.ports import Secrets as SecretStore
    from chalicelib.ports import SendQueue, WebhookPoster, WeChat
    from chalicelib.services.caches import CatalogCache
    from chalicelib.settings import Settings


class OnFirstUse[T]:
    """A client made on its first use (importing its HTTP library only then), then reused."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made


@dataclass(frozen=True)
class Core:
    settings: Settings
    store: Store
    queue: SendQueue
    catalog_cache: CatalogCache  # apps, API keys, templates; an app's AES key and activity tally
    webhook_queue: SendQueue | None = None  # the deliverer's queue (None: no deliverer here)
    webhook_endpoints: TtlCache[Any] | None = None  # each app's endpoints, briefly


@dataclass(frozen=True)
class Sending:
    core: Core
    secrets: SecretStore
    wechat: OnFirstUse[WeChat] = field(repr=False)
    campaign_statuses: TtlCache[Any] = field(repr=False)  # sender_gate.Seen of each campaign


@dataclass(frozen=True)
class Sweeping:
    core: Core
    sweep_queue: SendQueue | None = None  # the groups' fan-out (None: it sweeps in process)


@dataclass(frozen=True)
class Delivering:
    core: Core
    webhook_client: OnFirstUse[WebhookPoster] = field(repr=False)


@dataclass(frozen=True)
class AppSecrets:
    core: Core
    secrets: SecretStore
