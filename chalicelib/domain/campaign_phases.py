"""The one table of a campaign's moves: from which status and phase, to which, guarded how, with
what effects (docs/campaigns.md#lifecycle). The messages' moves are in ``lifecycle``.

Every change of a campaign's status or phase is a row here: the API's start, pause, resume and
cancel, the tick's begin, phase moves, restarts and closings, the freeze's last page, a deleted
template stopping the sends. ``services/campaign_steps.CampaignSteps`` applies each one as one
conditional write of the campaign item with its effects; a move that finds the campaign moved on
does nothing. Effects are data: the registry's writes, the chains launched, and the webhook event
a row reports (``event``: an outbox write in the move's transaction, docs/webhooks.md), as the
message moves report theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import Enum, StrEnum

from chalicelib.domain.campaign_records import Campaign, CampaignPhase, CampaignStatus
from chalicelib.domain.webhooks import CAMPAIGN_EVENTS, EventType

C, P, E = CampaignStatus, CampaignPhase, EventType


class CampaignMove(StrEnum):
    SCHEDULE = "schedule"  # the API's start, with send_at ahead
    START = "start"
    BEGIN = "begin"  # the tick: a scheduled campaign's send_at came
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    FROZEN = "frozen"  # the freeze's chains ended: the test or the send
    TESTED = "tested"  # every test card has its outcome: the wait for the decision
    DECIDE = "decide"  # the experiment picked a winner: everyone still pending gets it
    STOP = "stop"  # nobody else gets a card: the experiment's ``stop``, a deleted template
    SENT = "sent"  # the send's chains ended: the last outcomes
    RESTART = "restart"  # a chain stood still: a new generation goes on from each cursor
    WITHDRAW_AGAIN = "withdraw_again"  # a cancel's last pass over the cards written
    COMPLETE = "complete"  # every recipient has its final answer
    CLOSE = "close"  # a canceled campaign's books balance (the status stays)


class Guard(Enum):
    """What else the write checks, besides the status the move starts from."""

    STATUS = "status"  # the status alone: an API call wins whatever chain runs
    GENERATION = "generation"  # no one started another generation of chains since the read


class Chains(Enum):
    """Where the fan-out (or withdrawal) chains stand after the move."""

    KEEP = "keep"  # as they are
    PHASE = "phase"  # the next generation; the target phase's from their first page (none: ended)
    ON = "on"  # the next generation, each chain from its cursor
    AGAIN = "again"  # the next generation, every chain from its first page
    WITHDRAW = "withdraw"  # whatever generation runs, the next: the withdrawal's, from the start
    ENDED = "ended"  # whatever generation runs, the next: none runs


class Effect(StrEnum):
    """What a move does besides its status, phase, stamps and chains: a field it sets
    (``SLOTS``), a write in the same transaction, or (``LAUNCH``) what follows the commit; and
    the row's ``event``, written to the outbox in the transaction, handed on after the commit."""

    SLOTS = "slots"  # a throttled campaign's slot counter starts where the campaign starts
    WATCH = "watch"  # the tick looks after it
    UNWATCH = "unwatch"  # the tick is done with it
    LAUNCH = "launch"  # the first step of every chain still to run, enqueued


ANY = frozenset({*CampaignPhase, None})
CHAINED = frozenset({P.FREEZE, P.TEST, P.SEND})  # the phases whose chains write, and begin
CLOSED = ("completed_at",)  # the stamp of the books' closing
NEW_GENERATION = frozenset({Chains.PHASE, Chains.ON, Chains.AGAIN})  # read generation + 1
STARTS_CHAINS = NEW_GENERATION | {Chains.WITHDRAW}
STAMPED = frozenset(
    name for name, info in Campaign.model_fields.items() if "datetime" in str(info.annotation)
)
# Written by the move itself, never given as a change.
OWN_FIELDS = frozenset({"status", "phase", "generation", "next_slot_us"})


@dataclass(frozen=True)
class Row:
    """One way a move goes: from these statuses and phases to a status (and phase)."""

    statuses: AbstractSet[CampaignStatus]
    phases: AbstractSet[CampaignPhase | None]  # ANY: whatever phase
    status: CampaignStatus
    to_phases: AbstractSet[CampaignPhase] | None = None  # None: the phase stays
    guard: Guard = Guard.STATUS
    chains: Chains = Chains.KEEP
    stamps: tuple[str, ...] = ()  # fields set to the move's time
    effects: AbstractSet[Effect] = frozenset()
    event: EventType | None = None  # the webhook event the move reports (docs/webhooks.md)

    def __post_init__(self) -> None:
        for name in ("statuses", "phases", "to_phases", "effects"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozenset(value))
        if self.chains in NEW_GENERATION and self.guard is not Guard.GENERATION:
            raise ValueError(f"{self.chains} starts from the generation read: it needs its guard")
        if self.chains is Chains.PHASE and not self.to_phases:
            raise ValueError("chains of a phase need the phase the move begins")
        if Effect.LAUNCH in self.effects and self.chains not in STARTS_CHAINS:
            raise ValueError("only a move that starts chains launches them")
        if self.to_phases is not None and self.status is not C.RUNNING:
            raise ValueError("only a running campaign has phases to move to")
        unknown = set(self.stamps) - STAMPED
        if unknown:
            raise ValueError(f"stamps that are no time of the campaign: {sorted(unknown)}")
        if not self.statuses or not self.phases:
            raise ValueError("a row starts somewhere")
        if {Effect.WATCH, Effect.UNWATCH} <= self.effects:
            raise ValueError("a row watches the campaign or lets it go, not both")
        if self.event is not None:
            self._check_event(self.event)

    def _check_event(self, event: EventType) -> None:
        """A campaign's event: the closing of its books (in the status they close in), or its
        experiment's decision (from the wait for it)."""
        closes_in = {E.CAMPAIGN_COMPLETED: C.COMPLETED, E.CAMPAIGN_CANCELED: C.CANCELED}
        if event not in CAMPAIGN_EVENTS:
            raise ValueError(f"{event} is no campaign's event")
        if event in closes_in and (self.status, self.stamps) != (closes_in[event], CLOSED):
            raise ValueError(f"{event} is reported by the closing of the books, {closes_in[event]}")
        if event is E.EXPERIMENT_DECIDED and not self.phases <= {P.DECIDE}:
            raise ValueError(f"{event} is reported by a move from the decide phase")

    def allows(self, status: CampaignStatus, phase: CampaignPhase | None) -> bool:
        return status in self.statuses and phase in self.phases


D, S, R, Z, X = C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED, C.CANCELED
GEN, PHASE, ON = Guard.GENERATION, Chains.PHASE, Chains.ON
WATCH, UNWATCH, LAUNCH, SLOTS = Effect.WATCH, Effect.UNWATCH, Effect.LAUNCH, Effect.SLOTS
CANCELED = ("canceled_at", "stopped_at", "chained_at", "withdrawn_at")
STARTED, CHAINED_AT = ("started_at", "chained_at"), ("chained_at",)
STOPPED = ("chained_at", "stopped_at")
DONE = E.CAMPAIGN_COMPLETED
M = CampaignMove

# move: (from statuses, from phases, to status, to phases (None: the same), guard, chains,
#        stamps, effects, event), one row per place the move starts from
PHASES: dict[CampaignMove, tuple[Row, ...]] = {
    M.SCHEDULE: (Row({D}, ANY, S, effects={WATCH}),),
    M.START: (Row({D}, ANY, R, CHAINED, GEN, PHASE, STARTED, {SLOTS, WATCH, LAUNCH}),),
    M.BEGIN: (Row({S}, ANY, R, CHAINED, GEN, PHASE, STARTED, {SLOTS, LAUNCH}),),
    M.PAUSE: (Row({R}, ANY, Z),),
    # The same phase again, or the send after a pause in ``finish`` (phase_to_resume).
    M.RESUME: (Row({Z}, ANY, R, set(CampaignPhase), GEN, PHASE, CHAINED_AT, {LAUNCH}),),
    M.CANCEL: (
        # A draft has no card to withdraw; the tick still closes its books.
        Row({D}, ANY, X, chains=Chains.ENDED, stamps=CANCELED, effects={WATCH}),
        Row({S, R, Z}, ANY, X, chains=Chains.WITHDRAW, stamps=CANCELED, effects={WATCH, LAUNCH}),
    ),
    M.FROZEN: (Row({R}, {P.FREEZE}, R, {P.TEST, P.SEND}, GEN, PHASE, CHAINED_AT, {LAUNCH}),),
    M.TESTED: (Row({R}, {P.TEST}, R, {P.DECIDE}, GEN, PHASE, ("chained_at", "test_done_at")),),
    M.DECIDE: (
        Row({R}, {P.DECIDE}, R, {P.SEND}, GEN, PHASE, CHAINED_AT, {LAUNCH}, E.EXPERIMENT_DECIDED),
    ),
    M.STOP: (
        # A deleted template: the recipients still pending count as canceled.
        Row({R}, {P.TEST, P.SEND}, R, {P.FINISH}, GEN, PHASE, STOPPED),
        # The experiment's fallback ``stop``: the rest get nothing.
        Row({R}, {P.DECIDE}, R, {P.FINISH}, GEN, PHASE, STOPPED, event=E.EXPERIMENT_DECIDED),
    ),
    M.SENT: (Row({R}, {P.SEND}, R, {P.FINISH}, GEN, PHASE, CHAINED_AT),),
    M.RESTART: (
        Row({R}, CHAINED, R, None, GEN, ON, CHAINED_AT, {LAUNCH}),
        Row({X}, ANY, X, None, GEN, ON, CHAINED_AT, {LAUNCH}),  # the withdrawal's chains
    ),
    M.WITHDRAW_AGAIN: (
        Row({X}, ANY, X, None, GEN, Chains.AGAIN, ("chained_at", "withdrawn_at"), {LAUNCH}),
    ),
    M.COMPLETE: (
        Row({R}, {P.FINISH}, C.COMPLETED, None, GEN, stamps=CLOSED, effects={UNWATCH}, event=DONE),
    ),
    # The books of a canceled campaign balance: reported, the status stays.
    M.CLOSE: (Row({X}, ANY, X, stamps=CLOSED, effects={UNWATCH}, event=E.CAMPAIGN_CANCELED),),
}


def _checked(table: Mapping[CampaignMove, tuple[Row, ...]]) -> None:
    """Every move has rows, the rows of one move never start from the same place (which row
    applies is never a guess), and every campaign event is reported by some row."""
    for move in CampaignMove:
        rows = table.get(move, ())
        if not rows:
            raise ValueError(f"{move} has no row")
        for index, one in enumerate(rows):
            for other in rows[index + 1 :]:
                if one.statuses & other.statuses and one.phases & other.phases:
                    raise ValueError(f"two rows of {move} start from the same place")
    reported = {r.event for rows in table.values() for r in rows}
    unreported = CAMPAIGN_EVENTS - reported
    if unreported:
        raise ValueError(f"no move reports {sorted(unreported)}")


_checked(PHASES)


def row(move: CampaignMove, status: CampaignStatus, phase: CampaignPhase | None) -> Row | None:
    """The row by which ``move`` leaves this status and phase (None: the move is not allowed)."""
    return next((r for r in PHASES[move] if r.allows(status, phase)), None)


def allowed(move: CampaignMove, campaign: Campaign) -> bool:
    return row(move, campaign.status, campaign.phase) is not None


def sources(move: CampaignMove) -> frozenset[CampaignStatus]:
    """Every status the move may start from."""
    return frozenset(s for r in PHASES[move] for s in r.statuses)
