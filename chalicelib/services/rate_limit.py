"""The per-app rate limit: requests a second across every container, counted in the table.

A fixed window of one second per app, spread over a few counter items (``RateLimits``): the
limit holds however many containers serve the app. It costs the API one write per request;
``POST /v1/messages`` takes it inside the transaction that reserves the credit, at no extra
request, on a shard that concurrent sends of the app rarely share.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime

from chalicelib.adapters import metrics
from chalicelib.adapters.store.rate_limits import RETRIES, Window
from chalicelib.domain import clock
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.records import App
from chalicelib.ports import Transaction, TransactionFailed, WriteName
from chalicelib.services.deps import Core

RATE = WriteName.RATE  # the name of the write inside a transaction


def window(core: Core, app: App, now: datetime) -> Window:
    """Where a request of ``app`` at ``now`` counts (a shard of its second)."""
    return core.store.rate_limits.window(app.app_id, app.requests_per_second, now.timestamp())


def refusal(app: App, now: datetime) -> RateLimited:
    wait = max(1, math.ceil(math.floor(now.timestamp()) + 1 - now.timestamp()))
    metrics.rate_limited(app.app_id)
    return RateLimited(
        f"This app is over its limit of {app.requests_per_second} requests a second.", wait
    )


def charge(core: Core, app: App, now: datetime) -> None:
    """Count one request; RateLimited when the app is over its limit this second."""
    limits = core.store.rate_limits
    if not limits.count(app.app_id, app.requests_per_second, now.timestamp()):
        raise refusal(app, now)


def commit_counted(
    core: Core,
    app: App,
    window: Window | None,
    transaction_for: Callable[[Window | None], Transaction],
) -> None:
    """Commit the transaction that counts the request on ``window``'s shard; when that shard
    is full, again on a shard of the second with room; RateLimited when none has (the app is
    over its limit). Any other failure is the caller's."""
    for retry in range(RETRIES + 1):
        try:
            transaction_for(window).commit()
            return
        except TransactionFailed as failed:
            if window is None or not failed.on(RATE):
                raise
            others = core.store.rate_limits.with_room(window)
            if not others or retry == RETRIES:
                raise refusal(app, clock.now()) from failed
            window = random.choice(others)
