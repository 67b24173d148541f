"""The per-app rate limit: requests a second across every container, counted in the table.

A fixed window of one second per app, one counter item each, taken with a conditional ADD: the
limit holds however many containers serve the app. It costs the API one write per request;
``POST /v1/messages`` takes it inside the transaction that reserves the credit, at no extra
request.
"""

from __future__ import annotations

import math
from datetime import datetime

from chalicelib.adapters import metrics
from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import AnyOf, Below, Missing, Update
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.records import App
from chalicelib.ports import ConditionFailed, Services, WriteName

RATE = WriteName.RATE  # the name of the write inside a transaction
KEPT_S = 120  # the counter outlives its second briefly (TTL is cleanup, not timing)


def taken(app: App, now: datetime) -> Update:
    """One request of ``app`` in the second of ``now``, refused past the app's limit."""
    second = math.floor(now.timestamp())
    under = AnyOf((Missing("n"), Below("n", app.requests_per_second)))
    return Update(
        layout.rate_key(app.app_id, second),
        set={layout.TTL_ATTRIBUTE: second + KEPT_S},
        add={"n": 1},
        condition=under,
    )


def refusal(app: App, now: datetime) -> RateLimited:
    wait = max(1, math.ceil(math.floor(now.timestamp()) + 1 - now.timestamp()))
    metrics.rate_limited(app.app_id)
    return RateLimited(
        f"This app is over its limit of {app.requests_per_second} requests a second.", wait
    )


def charge(services: Services, app: App, now: datetime) -> None:
    """Count one request; RateLimited when the app is over its limit this second."""
    try:
        services.store.table.write(taken(app, now))
    except ConditionFailed as error:
        raise refusal(app, now) from error
