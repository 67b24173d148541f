"""Statistics: the daily counters (written inside the moves they count), summed per day."""

from __future__ import annotations

from datetime import date

from chalicelib.domain import campaigns
from chalicelib.domain.errors import NotFound
from chalicelib.domain.records import App
from chalicelib.domain.statistics import COUNTERS
from chalicelib.ports import Services


def per_day(
    services: Services, app: App, first: date, last: date, template_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Each day's counters, summed over the shards (and templates, unless one is asked for)."""
    days: dict[str, dict[str, int]] = {}
    for item in services.store.counters.days(app.app_id, first.isoformat(), last.isoformat()):
        if template_id and item.get("template_id") != template_id:
            continue
        day = days.setdefault(item["day"], dict.fromkeys(COUNTERS, 0))
        for counter in COUNTERS:
            day[counter] += int(item.get(counter, 0))
    return days


def per_day_of_campaign(
    services: Services, app: App, campaign_id: str, first: date, last: date
) -> dict[str, dict[str, int]]:
    """A campaign's own counters, per day, as the app's statistics name them."""
    found = services.store.campaigns.get(app.app_id, campaign_id)
    if found is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    days: dict[str, dict[str, int]] = {}
    for item in services.store.campaigns.counters(app.app_id, campaign_id):
        if not first.isoformat() <= item["day"] <= last.isoformat():
            continue
        day = days.setdefault(item["day"], dict.fromkeys(COUNTERS, 0))
        for counter, value in campaigns.as_statistics(item).items():
            day[counter] += value
    return days


def per_template(
    services: Services, app: App, first: date, last: date
) -> dict[str, dict[str, int]]:
    """Each template's counters, summed over the shards and the days from ``first`` to ``last``."""
    templates: dict[str, dict[str, int]] = {}
    for item in services.store.counters.days(app.app_id, first.isoformat(), last.isoformat()):
        totals = templates.setdefault(item.get("template_id", ""), dict.fromkeys(COUNTERS, 0))
        for counter in COUNTERS:
            totals[counter] += int(item.get(counter, 0))
    return templates
