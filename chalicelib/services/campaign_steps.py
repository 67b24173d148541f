"""Moves of one campaign, each applied with its effects in one transaction
(``domain/campaign_phases``), and the chains' steps they launch.

The write of the campaign item (``campaign``) comes from the move's row: its status and phase,
the times it stamps, where the chains stand, on the row's guard; its effects are named writes
beside it (the tick's registry, the outbox's deliveries of the event it reports) and, after the
commit, the event handed to the deliverer and the first step of every chain to run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.store.campaigns import END, Loaded
from chalicelib.domain import clock
from chalicelib.domain.campaign_phases import CampaignMove, Effect
from chalicelib.domain.campaign_records import Campaign, CampaignPhase, CampaignStatus
from chalicelib.domain.campaign_transition import CampaignTransition
from chalicelib.domain.campaigns import Progress
from chalicelib.domain.dispatch import MAX_DELAY_S, Envelope
from chalicelib.ports import Name, WriteName
from chalicelib.services.deps import Core
from chalicelib.services.webhook_outbox import Outbox

if TYPE_CHECKING:
    from chalicelib.ports import Write

CAMPAIGN = WriteName.CAMPAIGN
PAGE_KIND = "campaign_page"  # a step of a fan-out chain
WITHDRAWAL_KIND = "campaign_withdrawal"  # a step of a cancel's withdrawal chain


@dataclass(frozen=True)
class Step:
    """One SQS message of a chain: which page of which shard, for which generation."""

    app_id: str
    campaign_id: str
    shard: int
    generation: int
    cursor: str

    def envelope(self, delay_s: int = 0, kind: str = PAGE_KIND) -> Envelope:
        return Envelope({"kind": kind, **asdict(self)}, max(0, min(MAX_DELAY_S, delay_s)))

    def stands_in(self, loaded: Loaded) -> bool:
        """Of the campaign's generation, where its chain stands (not a duplicate, not stale)."""
        generation = loaded.campaign.generation
        return generation == self.generation and loaded.cursors.get(self.shard) == self.cursor

    def after(self, cursor: str) -> Step:
        return Step(self.app_id, self.campaign_id, self.shard, self.generation, cursor)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Step:
        return cls(
            str(body["app_id"]),
            str(body["campaign_id"]),
            int(body["shard"]),
            int(body["generation"]),
            str(body["cursor"]),
        )


@dataclass
class CampaignSteps:
    """One campaign as one actor (API, tick, a chain's step) read it, and its moves."""

    core: Core
    campaign: Campaign
    now: datetime
    done: Progress | None = None  # its counters as read (None: read when an event needs them)
    current: Campaign | None = field(default=None, init=False)  # as the launch read it

    def transition(
        self, move: CampaignMove, phase: CampaignPhase | None = None, **changes: Any
    ) -> CampaignTransition:
        """The move from the campaign as read; ValueError for a move its row does not allow."""
        return CampaignTransition(self.campaign, move, self.now, changes, phase)

    def writes(self, transition: CampaignTransition, outbox: Outbox) -> dict[Name, Write]:
        """The move's own write and every effect its row writes beside it: the registry's entry,
        the deliveries of the event it reports."""
        store = self.core.store
        writes: dict[Name, Write] = {CAMPAIGN: store.campaigns.moved(transition)}
        beside: Mapping[Effect, Callable[[Campaign], Write]] = {
            Effect.WATCH: store.campaigns.watch,
            Effect.UNWATCH: store.campaigns.unwatch,
        }
        for effect in sorted(transition.row.effects):
            if effect in beside:
                writes[WriteName.WATCH] = beside[effect](self.campaign)
        event = transition.row.event
        if event is not None:
            after = self.campaign.model_copy(update=transition.values())
            done = self.done or progress(self.core, self.campaign)
            writes.update(outbox.campaign(event, after, done))
        return writes

    def apply(self, move: CampaignMove, phase: CampaignPhase | None = None, **changes: Any) -> bool:
        """Commit the move; False when the campaign had moved on (nothing done)."""
        transition = self.transition(move, phase, **changes)
        outbox = Outbox(self.core, self.campaign.app_id, self.now)
        transaction = self.core.store.transaction()
        for name, write in self.writes(transition, outbox).items():
            transaction.add(name, write)
        if transaction.commit_unless_lost(CAMPAIGN):
            return False
        outbox.committed()
        if Effect.LAUNCH in transition.row.effects:
            canceled = transition.row.status is CampaignStatus.CANCELED
            kind = WITHDRAWAL_KIND if canceled else PAGE_KIND
            self.current = launch(self.core, self.campaign, kind)
        return True


def launch(core: Core, campaign: Campaign, kind: str = PAGE_KIND) -> Campaign:
    """Enqueue the first step of every chain still to run; a step the queue did not take is
    started again by the tick (a stalled chain)."""
    loaded = load(core, campaign.app_id, campaign.campaign_id)
    current = loaded.campaign
    steps = [
        Step(current.app_id, current.campaign_id, shard, current.generation, cursor).envelope(
            kind=kind
        )
        for shard, cursor in loaded.cursors.items()
        if cursor != END
    ]
    if steps:
        core.queue.send_batch(steps)
    return current


def move_chain(core: Core, campaign: Campaign, step: Step, after: str) -> bool:
    """The step's chain moves on to ``after``; False when a duplicate or a newer generation
    moved it first."""
    store = core.store
    moved = store.campaigns.advance(campaign, step.shard, step.cursor, after, clock.now())
    return store.transaction().add(CAMPAIGN, moved).commit_unless_lost(CAMPAIGN) is None


def load(core: Core, app_id: str, campaign_id: str) -> Loaded:
    loaded = core.store.campaigns.get(app_id, campaign_id)
    assert loaded is not None, "campaigns are never deleted"
    return loaded


def progress(core: Core, campaign: Campaign) -> Progress:
    rows = [
        (item.variant, item.counts)
        for item in core.store.campaigns.counters(campaign.app_id, campaign.campaign_id)
    ]
    return Progress.of(rows)
