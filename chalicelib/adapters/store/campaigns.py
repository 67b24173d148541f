"""Campaigns: the campaign item, its recipients, its counters, the holders index and the
registry of campaigns the tick looks after."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from chalicelib.adapters.store import cursors, layout
from chalicelib.adapters.store.counters import checked, read, shard_pick
from chalicelib.adapters.store.cursors import cursor_in, cursor_out
from chalicelib.adapters.store.table import (
    NEW,
    AnyOf,
    BeginsWith,
    Below,
    Check,
    Cursor,
    Delete,
    Equals,
    Exists,
    Item,
    Key,
    Missing,
    Not,
    OneOf,
    Put,
    Query,
    Update,
    every,
)
from chalicelib.domain import campaigns
from chalicelib.domain.campaigns import CampaignCounter
from chalicelib.domain.records import (
    Campaign,
    CampaignPhase,
    CampaignStatus,
    Recipient,
    RecipientState,
)
from chalicelib.ports import ConditionFailed, Table

_SLOT_ROUNDS = 5

START, END = "", "END"  # a fan-out chain's cursor before its first page and after its last


def cursor_attribute(shard: int) -> str:
    return f"cursor_{shard}"


@dataclass(frozen=True)
class Loaded:
    """A campaign as stored, with where each fan-out chain of the current phase stands."""

    campaign: Campaign
    cursors: dict[int, str]

    def chains_done(self) -> bool:
        return all(c == END for c in self.cursors.values())


@dataclass(frozen=True)
class Membership:
    """One campaign's recipient record of a user (None: none there)."""

    campaign_id: str
    key: Key
    recipient: Recipient | None


class Campaigns:
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

    def moved(
        self,
        campaign: Campaign,
        sources: frozenset[CampaignStatus],
        target: CampaignStatus,
        changes: dict[str, Any] | None = None,
    ) -> Update:
        """Change the status (and ``changes``), if it is still one of ``sources``."""
        values = {"status": target.value, **_plain(changes or {})}
        return Update(
            layout.campaign_key(campaign.app_id, campaign.campaign_id),
            set=values,
            condition=OneOf("status", tuple(sorted(s.value for s in sources))),
        )

    def still_paused(self, app_id: str, campaign_id: str) -> Check:
        return Check(
            layout.campaign_key(app_id, campaign_id),
            Equals("status", CampaignStatus.PAUSED.value),
        )

    def begin_phase(
        self,
        campaign: Campaign,
        phase: CampaignPhase,
        changes: dict[str, Any],
        sources: frozenset[CampaignStatus],
    ) -> Update:
        """Start the fan-out chains of ``phase`` over, from the first page of every shard (a
        phase without chains has them all at their end)."""
        first = START if phase in campaigns.CHAINED else END
        cursors = self._cursors(first)
        return self.restart_chains(campaign, {"phase": phase, **cursors, **changes}, sources)

    def restart_chains(
        self,
        campaign: Campaign,
        changes: dict[str, Any],
        sources: frozenset[CampaignStatus],
        from_start: bool = False,
    ) -> Update:
        """A new generation of chains (the old ones stop at their next page), if the campaign
        is still in one of ``sources`` and no one started another generation meanwhile; from
        each chain's cursor, or ``from_start``: from the first page of every shard."""
        statuses = tuple(sorted(s.value for s in sources))
        cursors = self._cursors(START) if from_start else {}
        return Update(
            layout.campaign_key(campaign.app_id, campaign.campaign_id),
            set={"generation": campaign.generation + 1, **cursors, **_plain(changes)},
            condition=every(Equals("generation", campaign.generation), OneOf("status", statuses)),
        )

    def canceled(
        self,
        campaign: Campaign,
        sources: frozenset[CampaignStatus],
        changes: dict[str, Any],
        withdraw: bool,
    ) -> Update:
        """Canceled, if still one of ``sources``, whatever generation runs: the fan-out chains
        stop at their next page, and ``withdraw`` starts the withdrawal's from the first page of
        every shard (otherwise none runs)."""
        statuses = tuple(sorted(s.value for s in sources))
        cursors = self._cursors(START if withdraw else END)
        values = {"status": CampaignStatus.CANCELED.value, **cursors, **_plain(changes)}
        return Update(
            layout.campaign_key(campaign.app_id, campaign.campaign_id),
            set=values,
            add={"generation": 1},
            condition=OneOf("status", statuses),
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

    def take_slots(self, campaign: Campaign, count: int, interval_us: int, now_us: int) -> int:
        """Hand out ``count`` send slots from the one counter every container shares; where the
        range ends. A counter left behind the clock (idle, paused) restarts at now, so slots
        never pile up in the past."""
        key = layout.campaign_key(campaign.app_id, campaign.campaign_id)
        floor = now_us - campaigns.SLOT_LAG_US
        return self._take(key, count * interval_us, now_us, floor)

    def take_slot_from(self, app_id: str, campaign_id: str, at_us: int, interval_us: int) -> int:
        """One send slot at ``at_us`` or after, from the same counter; where it starts. A counter
        behind ``at_us`` moves there, so the slots after it keep the pace."""
        key = layout.campaign_key(app_id, campaign_id)
        return self._take(key, interval_us, at_us, at_us) - interval_us

    def _take(self, key: Key, span_us: int, start_us: int, floor_us: int) -> int:
        """Move the counter on by ``span_us``, from ``start_us`` when it stands below
        ``floor_us``: where it ends."""
        on_time = every(Exists("next_slot_us"), Not(Below("next_slot_us", floor_us)))
        behind = AnyOf((Missing("next_slot_us"), Below("next_slot_us", floor_us)))
        for _ in range(_SLOT_ROUNDS):
            try:
                after = self.table.write(
                    Update(key, add={"next_slot_us": span_us}, condition=on_time),
                    return_new=True,
                )
            except ConditionFailed:
                try:
                    after = self.table.write(
                        Update(key, set={"next_slot_us": start_us + span_us}, condition=behind),
                        return_new=True,
                    )
                except ConditionFailed:
                    continue  # another container moved it meanwhile
            assert after is not None
            return int(after["next_slot_us"])
        raise RuntimeError("the slot counter kept moving")

    # Recipients ----------------------------------------------------------------------------

    def shard_of(self, openid: str) -> int:
        return layout.shard_of(openid, self.shards)

    def _recipient_key(self, campaign: Campaign, openid: str) -> dict[str, str]:
        return layout.recipient_key(
            campaign.app_id, campaign.campaign_id, self.shard_of(openid), openid
        )

    def new_recipient(self, campaign: Campaign, recipient: Recipient) -> Put:
        """A recipient, unless the openid is in the audience already."""
        item = {
            **self._recipient_key(campaign, recipient.openid),
            **recipient.model_dump(mode="json", exclude_none=True),
        }
        return Put(item, NEW)

    def recipient_handled(
        self,
        campaign: Campaign,
        openid: str,
        state: RecipientState,
        variant: str | None,
        message_id: str | None = None,
    ) -> Update:
        """A pending recipient got its message (or was skipped): once, whatever the retries."""
        return Update(
            self._recipient_key(campaign, openid),
            set={"state": state.value, "variant": variant, "message_id": message_id},
            condition=Equals("state", RecipientState.PENDING.value),
        )

    def recipient_back(self, campaign_id: str, app_id: str, openid: str, message_id: str) -> Update:
        """The message of a paused campaign was withdrawn: the recipient is pending again."""
        key = layout.recipient_key(app_id, campaign_id, self.shard_of(openid), openid)
        return Update(
            key,
            set={"state": RecipientState.PENDING.value},
            remove=("message_id", "variant"),
            condition=Equals("message_id", message_id),
        )

    def memberships(self, app_id: str, openid: str) -> list[Membership]:
        """Where the user may be a recipient: one per campaign of the app, with the record a
        batch read finds there (erasure)."""
        query = Query(
            "pk", layout.app_partition(app_id), sort=BeginsWith(layout.campaigns_prefix())
        )
        shard = self.shard_of(openid)
        keys = {
            str(item["campaign_id"]): layout.recipient_key(
                app_id, str(item["campaign_id"]), shard, openid
            )
            for item in self.table.query_all(query)
        }
        found = {item["pk"]: item for item in self.table.get_many(list(keys.values()))}
        return [
            Membership(campaign_id, key, _recipient(found.get(key["pk"])))
            for campaign_id, key in keys.items()
        ]

    def recipient_at(self, key: Key) -> Recipient | None:
        return _recipient(self.table.get(key, consistent=True))

    def pending_erased(self, key: Key) -> Delete:
        """An erased user's recipient record, if it is still waiting for its card."""
        return Delete(key, Equals("state", RecipientState.PENDING.value))

    def pending(
        self,
        campaign: Campaign,
        shard: int,
        limit: int,
        start: str,
        state: RecipientState = RecipientState.PENDING,
    ) -> tuple[list[Recipient], str]:
        """One page of a shard's recipients, those in ``state`` kept (still pending, unless
        asked otherwise); the cursor after it (END: the last)."""
        query = Query(
            "pk",
            layout.recipients_partition(campaign.app_id, campaign.campaign_id, shard),
            limit=limit,
            consistent=True,
            filter=Equals("state", state.value),
        )
        items, after = self.table.query(query, _cursor(start))
        return [Recipient.model_validate(i) for i in items], _cursor_text(after)

    def holders(
        self, app_id: str, template_id: str, shard: int, limit: int, start: str
    ) -> tuple[list[Item], str]:
        """One page of the holders index of a template's shard, in openid order."""
        query = Query(
            layout.HOLD_PK,
            layout.holders_shard(app_id, template_id, shard),
            sort_key=layout.HOLD_SK,
            index=layout.HOLDERS_INDEX,
            limit=limit,
        )
        items, after = self.table.query(query, _cursor(start))
        return items, _cursor_text(after)

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


def _recipient(item: Item | None) -> Recipient | None:
    return Recipient.model_validate(item) if item else None


def _cursor(text: str) -> Cursor | None:
    return cursor_in(text) if text not in (START, END) else None


def _cursor_text(after: Cursor | None) -> str:
    return END if after is None else (cursor_out(after) or END)


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
