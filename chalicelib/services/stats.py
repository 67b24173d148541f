"""Statistics: daily counters per template (written inside the transitions) and their report."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.adapters.store.counters import COUNTERS
from chalicelib.api.schemas import DayCounts, StatsOut, StatsQuery, Totals
from chalicelib.bootstrap import Services
from chalicelib.domain.records import App


def stats_day(app: App, moment: datetime) -> str:
    """Counters are kept per day of the app's timezone."""
    return moment.astimezone(ZoneInfo(app.timezone)).date().isoformat()


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def report(services: Services, app: App, query: StatsQuery) -> StatsOut:
    first, last = query.from_.isoformat(), query.to.isoformat()
    per_day: dict[str, dict[str, int]] = {}
    for item in services.store.counters.days(app.app_id, first, last):
        if query.template_id and item.get("template_id") != query.template_id:
            continue
        day = per_day.setdefault(item["day"], dict.fromkeys(COUNTERS, 0))
        for counter in COUNTERS:
            day[counter] += int(item.get(counter, 0))
    days = [DayCounts(date=d, **per_day.get(d, {})) for d in _dates(query.from_, query.to)]
    sums = {c: sum(getattr(d, c) for d in days) for c in COUNTERS}
    totals = Totals(
        **sums,
        delivery_rate=_ratio(sums["sent"], sums["sent"] + sums["failed"]),
        click_rate=_ratio(sums["clicked"], sums["sent"]),
        conversion_rate=_ratio(sums["converted"], sums["clicked"]),
    )
    return StatsOut(from_=first, to=last, days=days, totals=totals)


def _dates(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
