"""A throttled campaign's send slots: one counter on the campaign item that every container
takes slots from (docs/campaigns.md#the-throttle)."""

from __future__ import annotations

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import AnyOf, Below, Exists, Key, Missing, Not, Update, every
from chalicelib.domain import campaigns
from chalicelib.domain.campaign_records import Campaign
from chalicelib.ports import ConditionFailed, Table

_SLOT_ROUNDS = 5


class Slots:
    """The throttle's part of the ``Campaigns`` repository."""

    table: Table

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
