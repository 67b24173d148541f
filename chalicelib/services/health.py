"""Readiness: health answers 200 only when every route can serve."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chalicelib.domain.errors import Unavailable

if TYPE_CHECKING:
    from chalicelib.adapters.store.catalog import Catalog
    from chalicelib.settings import Settings

READY_FOR_S = 5.0


class Readiness:
    """Whether this container can serve: the send queue configured and the table answering.

    A container asks the table at most once every ``READY_FOR_S``; the time until which its last
    answer holds is this object's only state (one per container, made by the composition root).
    """

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self._settings, self._catalog = settings, catalog
        self._until = 0.0  # monotonic

    def check(self) -> None:
        """Unavailable unless the service is configured and its table answers."""
        if self._until > time.monotonic():
            return
        if not self._settings.send_queue_url:
            raise Unavailable("The send queue is not configured.")
        if not self._catalog.reachable():
            raise Unavailable("The table does not answer yet.")
        self._until = time.monotonic() + READY_FOR_S
