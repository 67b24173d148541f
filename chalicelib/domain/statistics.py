"""Statistics: which counters exist, which day a moment counts on, and the rates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from chalicelib.domain.records import App


class Counter(StrEnum):
    """The app's daily counters: the only names a counter item is written or read under."""

    REQUESTED = "requested"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    CLICKED = "clicked"
    CONVERTED = "converted"
    GRANTS_RECEIVED = "grants_received"
    GRANTS_EXPIRED = "grants_expired"


COUNTERS = tuple(Counter)


def stats_day(app: App, moment: datetime) -> str:
    """Counters are kept per day of the app's timezone."""
    return moment.astimezone(ZoneInfo(app.timezone)).date().isoformat()


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
