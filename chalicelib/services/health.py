"""Readiness: health answers 200 only when every route can serve."""

from __future__ import annotations

import time

from chalicelib.domain.errors import Unavailable
from chalicelib.ports import Services

READY_FOR_S = 5.0


def check(services: Services) -> None:
    """Unavailable unless the service is configured and its table answers (remembered 5 s)."""
    if services.ready_until > time.monotonic():
        return
    if not services.settings.send_queue_url:
        raise Unavailable("The send queue is not configured.")
    if not services.store.catalog.reachable():
        raise Unavailable("The table does not answer yet.")
    services.ready_until = time.monotonic() + READY_FOR_S
