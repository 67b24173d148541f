"""Campaigns: the audience, variants and experiment of a campaign, and its progress."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator, model_validator

from chalicelib.api.schemas.base import OpenId, Page, Request, Response, TemplateId
from chalicelib.api.schemas.messages import BestTimeIn, BestTimeOut
from chalicelib.domain.campaign_records import CampaignStatus

KeywordData = Annotated[dict[Annotated[str, Field(max_length=64)], str], Field(max_length=30)]
VariantName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class HoldersIn(Request):
    active_within_days: int | None = Field(default=None, ge=1, le=90)


class AudienceIn(Request):
    """Exactly one of ``holders`` and ``openids``."""

    holders: HoldersIn | None = None
    openids: list[OpenId] | None = Field(default=None, max_length=1000)  # empty: a draft to fill

    @model_validator(mode="after")
    def exactly_one(self) -> AudienceIn:
        if (self.holders is None) == (self.openids is None):
            raise ValueError("give exactly one of holders and openids")
        return self


class VariantIn(Request):
    name: VariantName
    weight: int = Field(ge=1, le=100)
    data: KeywordData = Field(default_factory=dict)
    page: Page | None = None


class ExperimentIn(Request):
    test_percent: int = Field(ge=1, le=50)
    metric: Literal["click_rate", "conversion_rate"]
    decide_after_minutes: int = Field(ge=1, le=10_080)
    confidence: float = Field(default=0.95, ge=0.5, le=0.999)
    fallback: Literal["best", "first", "stop"] = "best"


class CampaignIn(Request):
    name: str = Field(min_length=1, max_length=128)
    template_id: TemplateId
    audience: AudienceIn
    data: KeywordData = Field(default_factory=dict)
    page: Page | None = None
    send_at: AwareDatetime | None = None
    rate_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    variants: list[VariantIn] | None = Field(default=None, min_length=2, max_length=10)
    experiment: ExperimentIn | None = None
    best_time: BestTimeIn | None = None
    start: bool = True

    @field_validator("best_time")
    @classmethod
    def spread_alone(cls, best: BestTimeIn | None, info: ValidationInfo) -> BestTimeIn | None:
        """Best times spread the cards over hours: no throttle paces them, and an experiment
        would compare variants sent at different hours."""
        if best is not None and info.data.get("rate_per_minute") is not None:
            raise ValueError("best_time sends each card at its own hour: drop rate_per_minute")
        if best is not None and info.data.get("experiment") is not None:
            raise ValueError("an experiment compares variants sent together: drop best_time")
        return best

    @field_validator("variants")
    @classmethod
    def weights_sum_to_100(cls, variants: list[VariantIn] | None) -> list[VariantIn] | None:
        if variants is None:
            return None
        if len({v.name for v in variants}) != len(variants):
            raise ValueError("variant names must be unique")
        if sum(v.weight for v in variants) != 100:
            raise ValueError("weights must sum to 100")
        return variants

    @field_validator("experiment")
    @classmethod
    def experiment_needs_variants(
        cls, experiment: ExperimentIn | None, info: ValidationInfo
    ) -> ExperimentIn | None:
        # variants missing from info.data were refused already: they are named on their own
        if experiment is not None and "variants" in info.data and info.data["variants"] is None:
            raise ValueError("an experiment compares variants: give at least two")
        return experiment


class RecipientIn(Request):
    openid: OpenId
    data: KeywordData = Field(default_factory=dict)


class RecipientsIn(Request):
    recipients: list[RecipientIn] = Field(min_length=1, max_length=1000)


class RecipientsOut(Response):
    id: str
    added: int
    audience_size: int


class CampaignListQuery(Request):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=2048)


class SkippedOut(Response):
    no_grant: int
    opted_out: int
    frequency_cap: int
    fatigue: int


class VariantOut(Response):
    name: str
    weight: int
    assigned: int
    sent: int
    clicked: int
    converted: int
    click_rate: float | None
    conversion_rate: float | None


class ExperimentOut(Response):
    phase: Literal["testing", "deciding", "decided"]
    metric: Literal["click_rate", "conversion_rate"]
    test_percent: int
    winner: str | None
    p_value: float | None
    method: str | None
    decided_at: str | None
    reason: str | None


class CampaignOut(Response):
    id: str
    name: str
    template_id: str
    status: CampaignStatus
    audience_size: int
    created: int
    sent: int
    failed: int
    unknown: int  # a part of failed: sends whose outcome WeChat never told
    skipped: SkippedOut
    canceled: int
    pending: int
    clicked: int
    converted: int
    rate_per_minute: int | None
    applied_rate_per_minute: float | None  # slots fall on whole microseconds: never faster
    best_time: BestTimeOut | None
    send_at: str | None
    started_at: str | None
    completed_at: str | None
    variants: list[VariantOut]
    experiment: ExperimentOut | None


class CampaignList(Response):
    items: list[CampaignOut]
    next_cursor: str | None
