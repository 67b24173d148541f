"""What submsg keeps in one user's partition: preferences, what the user answered for each
template, engagement, and together the state that decides whether a message may go (credits are
records of their own: a message carries the one it reserved)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import Field

from chalicelib.domain.records import Category, Credit, GrantResult, LongTermStatus, Record


class Preferences(Record):
    timezone: str | None = None
    opt_out_all: bool = False
    opt_out_categories: list[Category] = Field(default_factory=list)
    opt_out_templates: list[str] = Field(default_factory=list)


class GrantState(Record):
    """What we remember of a user's answers for one template."""

    template_id: str
    long_term: LongTermStatus | None = None
    last_result: GrantResult | None = None
    last_result_at: datetime | None = None
    last_refusal_at: datetime | None = None


Bucket = tuple[int, int]  # (era, hour of the week) of an activity histogram


@dataclass(frozen=True)
class Engagement:
    """What one user's engagement item remembers (domain/engagement.py reads it)."""

    weights: Mapping[Bucket, float] = field(default_factory=dict)
    events: int = 0
    last_click_at: datetime | None = None
    unclicked: int = 0  # marketing cards sent since the user last clicked one
    last_unclicked_at: datetime | None = None  # when the latest of them was sent
    switched_off_at: datetime | None = None  # a subscribe_msg_change_event reject


@dataclass
class UserState:
    """Everything submsg keeps in one user's partition that decides whether a message may go."""

    preferences: Preferences = field(default_factory=Preferences)
    grants: dict[str, GrantState] = field(default_factory=dict)
    credits: list[Credit] = field(default_factory=list)
    engagement: Engagement = field(default_factory=Engagement)
    cap_counts: dict[str, int] = field(default_factory=dict)  # "<category>#<window>" -> sends

    def usable_credits(self, template_id: str, valid_at: datetime) -> list[Credit]:
        """Credits of a template still valid at ``valid_at``, earliest-expiring first."""
        never = datetime.max.replace(tzinfo=valid_at.tzinfo)
        return sorted(
            (
                c
                for c in self.credits
                if c.template_id == template_id
                and (c.expires_at is None or c.expires_at > valid_at)
            ),
            key=lambda c: c.expires_at or never,
        )

    def credit_count(self, template_id: str, now: datetime) -> int:
        return len(self.usable_credits(template_id, now))
