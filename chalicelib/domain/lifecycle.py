"""The one table of a message's moves: from which states, to which, guarded how, with what effects.

Every state change of a message (API, sweeps, sender, callback) is one of these moves, applied
as one conditional write together with its effects (services/lifecycle.py). A move that finds
the message in a state it does not start from does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from chalicelib.domain.campaigns import CampaignCounter
from chalicelib.domain.records import MessageStatus
from chalicelib.domain.statistics import Counter

S = MessageStatus


class Move(StrEnum):
    RESCHEDULE = "reschedule"  # the API moves send_at (also to queued when due soon)
    CANCEL = "cancel"
    ENQUEUE = "enqueue"  # the due sweep handed it to the queue
    DEFER = "defer"  # quiet hours: back to scheduled at their end
    SKIP = "skip"  # policy at send time: opted out, over a cap, fatigued
    CLAIM = "claim"  # the sender takes it, before calling WeChat
    RETRY = "retry"  # WeChat busy: back to queued, after a backoff
    SEND = "send"
    POSTPONE = "postpone"  # WeChat's daily quota: back to scheduled for tomorrow
    LOSE = "lose"  # the outcome is unknown (read timeout): never resent
    EXPIRE_CLAIM = "expire_claim"  # a claim outlived its lease: unknown
    FAIL = "fail"  # WeChat refused it for good, or retries ran out: the credit goes back
    FAIL_UNSUBSCRIBED = "fail_unsubscribed"  # 43101: WeChat spent or lost the grant
    FAIL_LATE = "fail_late"  # WeChat reported later that a sent card was not delivered
    WITHDRAW = "withdraw"  # its campaign was paused: the recipient waits for the resume


class Guard(Enum):
    """What else must still hold, besides the state, for the move to apply."""

    NONE = "none"
    CLAIM = "claim"  # the mover holds the current claim
    WORK_AT = "work_at"  # the message is where the sweep found it on the needs-work index
    SEND_AT = "send_at"  # send_at is what the API read
    DUE = "due"  # send_at has come (within the sender's slack)


@dataclass(frozen=True)
class Rule:
    sources: frozenset[MessageStatus]
    targets: frozenset[MessageStatus]
    guard: Guard = Guard.NONE
    refund: bool = False  # the reserved credit goes back to the user
    take_cap: bool = False
    release_cap: bool = False  # a cap slot taken by the claim is given back
    counts: Mapping[Counter, int] = field(default_factory=dict)  # statistics of the day
    # a campaign's counters (None: as ``counts``)
    progress: Mapping[CampaignCounter, int] | None = None
    finishes: bool = False  # off the needs-work index, kept for the retention period
    attempt: bool = False  # counts one more attempt

    @property
    def campaign_counts(self) -> Mapping[Counter, int] | Mapping[CampaignCounter, int]:
        return self.counts if self.progress is None else self.progress

    def allows(self, source: MessageStatus, target: MessageStatus) -> bool:
        return source in self.sources and target in self.targets


UNCLAIMED = frozenset({S.SCHEDULED, S.QUEUED})
SENDING = frozenset({S.SENDING})
LOST = {
    CampaignCounter.FAILED: 1,
    CampaignCounter.UNKNOWN: 1,
}  # a campaign counts an unknown outcome as failed
WITHDRAWN = {
    CampaignCounter.CREATED: -1,
    CampaignCounter.REQUESTED: -1,
}  # the recipient is pending again

LIFECYCLE: dict[Move, Rule] = {
    Move.RESCHEDULE: Rule(frozenset({S.SCHEDULED}), UNCLAIMED, Guard.SEND_AT),
    Move.CANCEL: Rule(
        UNCLAIMED,
        frozenset({S.CANCELED}),
        refund=True,
        progress={CampaignCounter.CANCELED: 1},
        finishes=True,
    ),
    Move.WITHDRAW: Rule(
        UNCLAIMED,
        frozenset({S.CANCELED}),
        refund=True,
        counts={Counter.REQUESTED: -1},  # written again at the resume, and counted then
        progress=WITHDRAWN,
        finishes=True,
    ),
    Move.ENQUEUE: Rule(UNCLAIMED, frozenset({S.QUEUED}), Guard.WORK_AT),
    Move.DEFER: Rule(UNCLAIMED, frozenset({S.SCHEDULED}), Guard.DUE),
    Move.SKIP: Rule(
        UNCLAIMED, frozenset({S.SKIPPED}), refund=True, counts={Counter.SKIPPED: 1}, finishes=True
    ),
    Move.CLAIM: Rule(UNCLAIMED, SENDING, Guard.DUE, take_cap=True, attempt=True),
    Move.RETRY: Rule(SENDING, frozenset({S.QUEUED}), Guard.CLAIM, release_cap=True),
    Move.SEND: Rule(
        SENDING, frozenset({S.SENT}), Guard.CLAIM, counts={Counter.SENT: 1}, finishes=True
    ),
    Move.POSTPONE: Rule(SENDING, frozenset({S.SCHEDULED}), Guard.CLAIM, release_cap=True),
    Move.LOSE: Rule(
        SENDING,
        frozenset({S.UNKNOWN}),
        Guard.CLAIM,
        counts={Counter.UNKNOWN: 1},
        progress=LOST,
        finishes=True,
    ),
    Move.EXPIRE_CLAIM: Rule(
        SENDING,
        frozenset({S.UNKNOWN}),
        Guard.WORK_AT,
        counts={Counter.UNKNOWN: 1},
        progress=LOST,
        finishes=True,
    ),
    Move.FAIL: Rule(
        SENDING,
        frozenset({S.FAILED}),
        Guard.CLAIM,
        refund=True,
        release_cap=True,
        counts={Counter.FAILED: 1},
        finishes=True,
    ),
    Move.FAIL_UNSUBSCRIBED: Rule(
        SENDING,
        frozenset({S.FAILED}),
        Guard.CLAIM,
        release_cap=True,
        counts={Counter.FAILED: 1},
        finishes=True,
    ),
    Move.FAIL_LATE: Rule(
        frozenset({S.SENT}),
        frozenset({S.FAILED}),
        counts={Counter.SENT: -1, Counter.FAILED: 1},
        finishes=True,
    ),
}


def rule(move: Move) -> Rule:
    return LIFECYCLE[move]


def moves_between(source: MessageStatus, target: MessageStatus) -> list[Move]:
    """Every move that takes a message from ``source`` to ``target`` (empty: not allowed)."""
    return [move for move, found in LIFECYCLE.items() if found.allows(source, target)]


@dataclass(frozen=True)
class Transition:
    """One move of one message, with everything its conditional write needs."""

    message_id: str
    move: Move
    target: MessageStatus
    now: datetime
    work_at: datetime | None = None  # stays on the needs-work index until then
    changes: Mapping[str, Any] = field(default_factory=dict)  # fields set with the move
    claim_id: str | None = None  # Guard.CLAIM: the claim that must still hold
    work_at_ms: int | None = None  # Guard.WORK_AT: where the sweep found it
    send_at_ms: int | None = None  # Guard.SEND_AT: the send_at the API read
    due_by: datetime | None = None  # Guard.DUE: send_at no later than this
    purge_at: int | None = None  # finishes: kept until then

    def __post_init__(self) -> None:
        found = rule(self.move)
        if self.target not in found.targets:
            raise ValueError(f"{self.move} cannot end in {self.target}")
        missing = {
            Guard.CLAIM: self.claim_id,
            Guard.WORK_AT: self.work_at_ms,
            Guard.SEND_AT: self.send_at_ms,
            Guard.DUE: self.due_by,
        }.get(found.guard, True)
        if missing is None:
            raise ValueError(f"{self.move} needs its {found.guard.value} guard")
        if found.finishes and self.work_at is not None:
            raise ValueError(f"{self.move} finishes the message: no work_at")

    @property
    def rule(self) -> Rule:
        return rule(self.move)
