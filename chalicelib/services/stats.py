"""Statistics: the daily counters (written inside the moves they count), summed per day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from chalicelib.adapters.store.counters import DayCounts
from chalicelib.domain import campaigns
from chalicelib.domain.errors import NotFound
from chalicelib.domain.records import App
from chalicelib.domain.statistics import Counter
from chalicelib.services.deps import Core

NAMES = [counter.value for counter in Counter]  # the answer's field names


def per_day(
    core: Core, app: App, first: date, last: date, template_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Each day's counters, summed over the shards (and templates, unless one is asked for)."""
    items = counted(core, app, first, last)
    if template_id:
        items = [item for item in items if item.template_id == template_id]
    return summed_by(items, "day")


def counted(core: Core, app: App, first: date, last: date) -> list[DayCounts]:
    """The counter items of the app's days from ``first`` to ``last``, every shard's."""
    return core.store.counters.days(app.app_id, first.isoformat(), last.isoformat())


def summed_by(
    items: Iterable[DayCounts], attribute: Literal["day", "template_id"]
) -> dict[str, dict[str, int]]:
    """The counters of ``items`` summed per value of ``attribute`` (a day, a template)."""
    sums: dict[str, dict[str, int]] = {}
    for item in items:
        totals = sums.setdefault(getattr(item, attribute), dict.fromkeys(NAMES, 0))
        for counter in Counter:
            totals[counter.value] += item.counts[counter]
    return sums


def per_day_of_campaign(
    core: Core, app: App, campaign_id: str, first: date, last: date
) -> dict[str, dict[str, int]]:
    """A campaign's own counters, per day, as the app's statistics name them."""
    found = core.store.campaigns.get(app.app_id, campaign_id)
    if found is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    days: dict[str, dict[str, int]] = {}
    for item in core.store.campaigns.counters(app.app_id, campaign_id):
        if not first.isoformat() <= item.day <= last.isoformat():
            continue
        day = days.setdefault(item.day, dict.fromkeys(NAMES, 0))
        for counter, value in campaigns.as_statistics(item.counts).items():
            day[counter.value] += value
    return days
