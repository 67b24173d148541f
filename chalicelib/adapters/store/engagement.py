"""Engagement items: each user's activity histogram, clicks and marketing streak, and the app's
combined histogram. Every write is one blind update (no read first), so activity costs one
request per user whatever it holds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import (
    All,
    AnyOf,
    Below,
    Check,
    Condition,
    Exists,
    Item,
    Missing,
    Not,
    Query,
    Update,
)
from chalicelib.domain import engagement as rules
from chalicelib.domain.engagement import Tally
from chalicelib.domain.users import Engagement
from chalicelib.ports import ConditionFailed, Table

EVENTS = "events"
LAST_CLICK_AT, UNCLICKED, LAST_UNCLICKED_AT = "last_click_at", "unclicked", "last_unclicked_at"
SWITCHED_OFF_AT = "switched_off_at"
ACTIVE_DAY = "active_day"
# The budget conditions compare instants as layout.sortable text, which orders like time.
_INSTANTS = (LAST_CLICK_AT, LAST_UNCLICKED_AT, SWITCHED_OFF_AT)


def _added(tally: Tally) -> dict[str, Any]:
    """ADDs of the tally's weights, as decimals of 12 significant digits (as DynamoDB keeps)."""
    added: dict[str, Any] = {
        layout.activity_attribute(era, hour): Decimal(f"{value:.12g}")
        for (era, hour), value in tally.weights.items()
    }
    if tally.events:
        added[EVENTS] = tally.events
    return added


def engagement_of(item: Item | None) -> Engagement:
    if not item:
        return Engagement()
    weights = {}
    for attribute, value in item.items():
        bucket = layout.activity_bucket(attribute)
        if bucket is not None:
            weights[bucket] = float(value)
    instants = {a: datetime.fromisoformat(item[a]) for a in _INSTANTS if item.get(a)}
    return Engagement(
        weights=weights,
        events=int(item.get(EVENTS, 0)),
        unclicked=int(item.get(UNCLICKED, 0)),
        **instants,
    )


class EngagementItems:
    def __init__(self, table: Table, app_shards: int) -> None:
        self.table = table
        self.app_shards = app_shards

    # A user's item ------------------------------------------------------------------------

    def active(self, app_id: str, openid: str, tally: Tally) -> Update:
        return Update(layout.engagement_key(app_id, openid), add=_added(tally))

    def add_activity(self, app_id: str, openid: str, tally: Tally) -> str | None:
        """Add a tally (one blind update, as ``active``); the user's last active day it finds."""
        item = self.table.write(self.active(app_id, openid, tally), return_new=True)
        return (item or {}).get(ACTIVE_DAY)

    def mark_active(self, app_id: str, openid: str, day: str) -> bool:
        """The user's last active day moves on to ``day``; False when that day, or a later
        one, is there already (the conditional update decides, once a day per user)."""
        update = Update(
            layout.engagement_key(app_id, openid),
            set={ACTIVE_DAY: day},
            condition=AnyOf((Missing(ACTIVE_DAY), Below(ACTIVE_DAY, day))),
        )
        try:
            self.table.write(update)
        except ConditionFailed:
            return False
        return True

    def clicked(
        self, app_id: str, openid: str, now: datetime, tally: Tally, marketing: bool
    ) -> Update:
        """A card was clicked: activity, the last click, and the marketing streak broken."""
        changes: dict[str, Any] = {LAST_CLICK_AT: layout.sortable(now)}
        if marketing:
            changes[UNCLICKED] = 0
        return Update(layout.engagement_key(app_id, openid), set=changes, add=_added(tally))

    def marketing_sent(self, app_id: str, openid: str, now: datetime) -> Update:
        """One more marketing card that has not been clicked (yet)."""
        return Update(
            layout.engagement_key(app_id, openid),
            set={LAST_UNCLICKED_AT: layout.sortable(now)},
            add={UNCLICKED: 1},
        )

    def switched_off(self, app_id: str, openid: str, now: datetime) -> Update:
        return Update(
            layout.engagement_key(app_id, openid), set={SWITCHED_OFF_AT: layout.sortable(now)}
        )

    def within_budget(self, app_id: str, openid: str, now: datetime, engaged: bool) -> Check:
        """The claim of a marketing card: neither fatigued nor switched off (and, ``engaged``,
        clicked within 28 days) as domain/engagement.marketing_budget decides."""
        since = layout.sortable
        switched_on = AnyOf(
            (
                Missing(SWITCHED_OFF_AT),
                Below(SWITCHED_OFF_AT, since(now - rules.SWITCHED_OFF_FOR), or_equal=True),
            )
        )
        rested = AnyOf(
            (
                Missing(UNCLICKED),
                Below(UNCLICKED, rules.FATIGUE_AFTER_UNCLICKED),
                Missing(LAST_UNCLICKED_AT),
                Below(LAST_UNCLICKED_AT, since(now - rules.FATIGUED_FOR), or_equal=True),
            )
        )
        conditions: list[Condition] = [switched_on, rested]
        if engaged:
            recent = since(now - rules.ENGAGED_WITHIN)
            conditions += [Exists(LAST_CLICK_AT), Not(Below(LAST_CLICK_AT, recent, or_equal=True))]
        return Check(layout.engagement_key(app_id, openid), All(tuple(conditions)))

    # The app's combined histogram ----------------------------------------------------------

    def add_app_activity(self, app_id: str, shard_of: str, tally: Tally) -> None:
        """The app's combined histogram gets ``tally`` (one blind update on one shard)."""
        shard = layout.shard_of(shard_of, self.app_shards)
        self.table.write(Update(layout.app_activity_key(app_id, shard), add=_added(tally)))

    def app_tally(self, app_id: str) -> Tally:
        query = Query("pk", layout.app_activity_partition(app_id))
        total = Tally()
        for item in self.table.query_all(query):
            found = engagement_of(item)
            total = total.plus(Tally(found.weights, found.events))
        return total
