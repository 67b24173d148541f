"""Campaigns: the campaign item and its moves, its counters and the registry of campaigns the
tick looks after; the recipients and the holders index are in ``recipients``, the throttle's
slots in ``slots``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from chalicelib.adapters.store import cursors, layout
from chalicelib.adapters.store.counters import checked, read, shard_pick
from chalicelib.adapters.store.cursors import cursor_out
from chalicelib.adapters.store.recipients import END, START, Membership, Recipients
from chalicelib.adapters.store.slots import Slots
from chalicelib.adapters.store.table import (
    NEW,
    BeginsWith,
    Check,
    Condition,
    Delete,
    Equals,
    Item,
    OneOf,
    Put,
    Query,
    Update,
    every,
)
from chalicelib.domain.campaign_phases import (
    CHAINED,
    NEW_GENERATION,
    Chains,
    Guard,
)
from chalicelib.domain.campaign_records import Campaign, CampaignStatus
from chalicelib.domain.campaign_transition import CampaignTransition
from chalicelib.domain.campaigns import CampaignCounter
from chalicelib.ports import Table

__all__ = ["END", "START", "Campaigns", "Loaded", "Membership", "VariantCounts"]


def cursor_attribute(shard: int) -> str:
    return f"cursor_{shard}"


@dataclass(frozen=True)
class Loaded:
    """A campaign as stored, with where each fan-out chain of the current phase stands."""

    campaign: Campaign
    cursors: dict[int, str]

    def chains_done(self) -> bool:
        return all(c == END for c in self.cursors.values())


class Campaigns(Recipients, Slots):
    """The campaign item, its recipients (``recipients``), its throttle (``slots``), its
    counters and the tick's registry."""

    def __init__(self, table: Table, shards: int, stats_shards: int) -> None:
        self.table = table
        self.shards = shards
        self.stats_shards = stats_shards

    # The campaign item ---------------------------------------------------------------------

    def item(self, campaign: Campaign) -> Item:
        key = layout.campaign_key(campaign.app_id, campaign.campaign_id)
        return {
            **key,
            **campaign.model_dump(mode="json", exclude_none=True),
            **self._cursors(START),
        }

    def create(self, campaign: Campaign) -> Put:
        return Put(self.item(campaign), NEW)

    def _cursors(self, value: str) -> dict[str, str]:
        """Every chain's cursor, set to ``value``."""
        return {cursor_attribute(n): value for n in range(self.shards)}

    def get(self, app_id: str, campaign_id: str) -> Loaded | None:
        item = self.table.get(layout.campaign_key(app_id, campaign_id), consistent=True)
        return self._loaded(item) if item else None

    def _loaded(self, item: Item) -> Loaded:
        cursors = {n: str(item.get(cursor_attribute(n), START)) for n in range(self.shards)}
        return Loaded(Campaign.model_validate(item), cursors)

    def list(
        self, app_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Campaign], str | None]:
        """The app's campaigns, newest first; InvalidCursor for a cursor of another listing."""
        check = partial(layout.campaigns_start, app_id)
        start = cursors.opened(cursor, check) if cursor else None
        query = Query(
            "pk",
            layout.app_partition(app_id),
            sort=BeginsWith(layout.campaigns_prefix()),
            forward=False,
            limit=limit,
        )
        items, after = self.table.query(query, start)
        return [Campaign.model_validate(i) for i in items], cursor_out(after)

    def moved(self, transition: CampaignTransition) -> Update:
        """The campaign's move (``domain/campaign_phases``): the fields it sets and where the
        chains stand after it, if the campaign is still where the move starts from (its row's
        statuses, and with ``Guard.GENERATION`` the generation read: no one started other chains
        meanwhile)."""
        campaign, found = transition.campaign, transition.row
        values = _plain(transition.values())
        add: dict[str, int] = {}
        if found.chains in NEW_GENERATION:
            values["generation"] = campaign.generation + 1
        elif found.chains in (Chains.WITHDRAW, Chains.ENDED):
            add["generation"] = 1  # whatever generation runs: its steps stop at their next page
        first = {
            Chains.PHASE: START if transition.phase in CHAINED else END,
            Chains.AGAIN: START,
            Chains.WITHDRAW: START,
            Chains.ENDED: END,
        }.get(found.chains)
        if first is not None:
            values.update(self._cursors(first))
        condition: Condition = OneOf("status", tuple(sorted(s.value for s in found.statuses)))
        if found.guard is Guard.GENERATION:
            condition = every(Equals("generation", campaign.generation), condition)
        key = layout.campaign_key(campaign.app_id, campaign.campaign_id)
        return Update(key, set=values, add=add, condition=condition)

    def still_paused(self, app_id: str, campaign_id: str) -> Check:
        return Check(
            layout.campaign_key(app_id, campaign_id),
            Equals("status", CampaignStatus.PAUSED.value),
        )

    def advance(
        self,
        campaign: Campaign,
        shard: int,
        from_cursor: str,
        to_cursor: str,
        now: datetime,
        audience: int = 0,
    ) -> Update:
        """Move one chain to its next page, once: the generation and the cursor must not have
        moved (a duplicate page finds them moved). ``audience``: recipients the page added."""
        attribute = cursor_attribute(shard)
        return Update(
            layout.campaign_key(campaign.app_id, campaign.campaign_id),
            set={attribute: to_cursor, "chained_at": now.isoformat()},
            add={"audience_size": audience} if audience else {},
            condition=every(
                Equals("generation", campaign.generation), Equals(attribute, from_cursor)
            ),
        )

    def add_audience(self, campaign: Campaign, count: int) -> Update:
        """Recipients added to a draft."""
        return Update(
            layout.campaign_key(campaign.app_id, campaign.campaign_id),
            add={"audience_size": count},
            condition=Equals("status", CampaignStatus.DRAFT.value),
        )

    # Counters ------------------------------------------------------------------------------

    def count(
        self,
        app_id: str,
        campaign_id: str,
        day: str,
        variant: str,
        counts: Mapping[CampaignCounter, int],
    ) -> Update:
        """Add ``counts`` to one shard of the campaign's counters of the day and variant."""
        adds = checked(CampaignCounter, counts)
        shard = shard_pick(self.stats_shards)
        key = layout.campaign_stats_key(app_id, campaign_id, day, variant, shard)
        return Update(key, set={"day": day, "variant": variant}, add=adds)

    def counters(self, app_id: str, campaign_id: str) -> Iterator[VariantCounts]:
        """Every shard's counter items of the campaign (one Query per shard that may hold
        items, whatever the writers' count is now)."""
        for shard in range(layout.COUNTER_SHARDS):
            partition = layout.campaign_stats_partition(app_id, campaign_id, shard)
            for item in self.table.query_all(Query("pk", partition, consistent=True)):
                counts = read(CampaignCounter, item)
                yield VariantCounts(str(item["day"]), str(item["variant"]), counts)

    # The tick's registry -------------------------------------------------------------------

    def watch(self, campaign: Campaign) -> Put:
        key = layout.active_campaign_key(campaign.app_id, campaign.campaign_id)
        return Put({**key, "app_id": campaign.app_id, "campaign_id": campaign.campaign_id})

    def unwatch(self, campaign: Campaign) -> Delete:
        return Delete(layout.active_campaign_key(campaign.app_id, campaign.campaign_id))

    def watched(self) -> Iterator[Item]:
        return self.table.query_all(Query("pk", layout.active_campaigns_partition()))


@dataclass(frozen=True)
class VariantCounts:
    """One counter item of a campaign: a day, a variant, what one shard holds."""

    day: str
    variant: str
    counts: dict[CampaignCounter, int]


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    """Datetimes and records as the JSON the item keeps."""
    plain: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif hasattr(value, "model_dump"):
            value = value.model_dump(mode="json")
        elif isinstance(value, StrEnum):
            value = value.value
        plain[name] = value
    return plain
