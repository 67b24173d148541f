"""Statistics: which counters exist, which day a moment counts on, and the rates."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain.records import App

COUNTERS = (
    "requested",
    "sent",
    "failed",
    "skipped",
    "unknown",
    "clicked",
    "converted",
    "grants_received",
    "grants_expired",
)


def stats_day(app: App, moment: datetime) -> str:
    """Counters are kept per day of the app's timezone."""
    return moment.astimezone(ZoneInfo(app.timezone)).date().isoformat()


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
