"""Stored campaign records: a campaign, its variants and experiment, its recipients
(docs/campaigns.md); the other stored records are in ``chalicelib.domain.records``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from chalicelib.domain.records import Record


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELED = "canceled"


class CampaignPhase(StrEnum):
    """Where a running campaign is: the fan-out chains of one phase run at a time."""

    FREEZE = "freeze"  # a holders audience is copied into recipients
    TEST = "test"  # an experiment's test group gets the variants
    DECIDE = "decide"  # the test cards are out: waiting to compare the variants
    SEND = "send"  # everyone still pending gets a card (the winner after an experiment)
    FINISH = "finish"  # every recipient was handled: waiting for the last cards' outcomes


class Variant(Record):
    name: str
    weight: int
    data: dict[str, str] = Field(default_factory=dict)
    page: str | None = None


class Experiment(Record):
    test_percent: int
    metric: Literal["click_rate", "conversion_rate"]
    decide_after_minutes: int
    confidence: float = 0.95
    fallback: Literal["best", "first", "stop"] = "best"


class Decision(Record):
    winner: str | None = None
    p_value: float | None = None
    method: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None


class Campaign(Record):
    campaign_id: str
    app_id: str
    name: str
    template_id: str
    audience: Literal["holders", "list"]
    active_within_days: int | None = None
    data: dict[str, str] = Field(default_factory=dict)
    page: str | None = None
    send_at: datetime | None = None
    rate_per_minute: int | None = None
    best_time_within_hours: int | None = None  # each card at its recipient's best hour
    variants: list[Variant] = Field(default_factory=list)
    experiment: Experiment | None = None
    status: CampaignStatus
    phase: CampaignPhase | None = None
    generation: int = 0  # bumped whenever the fan-out chains start over (a phase, a resume)
    audience_size: int = 0
    next_slot_us: int | None = None  # the throttle: when the next send slot falls (epoch µs)
    test_done_at: datetime | None = None
    decision: Decision = Field(default_factory=Decision)
    created_at: datetime
    started_at: datetime | None = None
    canceled_at: datetime | None = None
    stopped_at: datetime | None = None  # no recipient gets a card after this (cancel, "stop")
    chained_at: datetime | None = None  # the fan-out chains last moved (a stalled one restarts)
    withdrawn_at: datetime | None = None  # a cancel's last pass over the cards began
    completed_at: datetime | None = None


class RecipientState(StrEnum):
    PENDING = "pending"
    CREATED = "created"  # its message exists (see message_id)
    NO_GRANT = "no_grant"
    OPTED_OUT = "opted_out"


class Recipient(Record):
    openid: str
    data: dict[str, str] = Field(default_factory=dict)
    state: RecipientState = RecipientState.PENDING
    message_id: str | None = None
    variant: str | None = None
