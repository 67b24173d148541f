"""Request and response shapes of the HTTP API (docs/api.md), the source of its OpenAPI document."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.domain.engagement import MAX_WITHIN_HOURS
from chalicelib.domain.keywords import KeywordType
from chalicelib.domain.records import (
    CampaignStatus,
    Category,
    GrantResult,
    Lang,
    LongTermStatus,
    MessageStatus,
    TemplateKind,
)

OpenId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$", examples=["oUser0000000000000000001"])
]
TemplateId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
KeywordKey = Annotated[
    str, Field(pattern=rf"^({'|'.join(KeywordType)})[0-9]+$", max_length=64, examples=["thing1"])
]
Page = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s/][^\s]*$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Response(BaseModel):
    model_config = ConfigDict(defer_build=True)


# Templates ----------------------------------------------------------------------------------


class KeywordIn(Request):
    key: KeywordKey
    name: str = Field(min_length=1, max_length=64)
    enum_values: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100
    )


def _only(field: str, kind: str, other: str) -> dict[str, object]:
    return {"required": [field], "properties": {field: {"type": kind}, other: {"type": "null"}}}


class TemplateIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [_only("keywords", "array", "content"), _only("content", "string", "keywords")]
        }
    )

    title: str = Field(min_length=1, max_length=64)
    kind: TemplateKind
    category: Category
    keywords: list[KeywordIn] | None = Field(default=None, max_length=30)
    content: str | None = Field(default=None, min_length=1, max_length=4096)
    default_page: Page | None = None
    grant_ttl_days: int = Field(default=7, ge=0, le=3650)
    target_credits: int = Field(default=1, ge=0, le=100)

    @model_validator(mode="after")
    def keywords_or_content(self) -> TemplateIn:
        if (self.keywords is None) == (self.content is None):
            raise ValueError("give either keywords or content, not both")
        return self


class KeywordOut(Response):
    key: str
    name: str
    type: str
    enum_values: list[str]


class TemplateOut(Response):
    template_id: str
    title: str
    kind: TemplateKind
    category: Category
    keywords: list[KeywordOut]
    default_page: str | None
    grant_ttl_days: int
    target_credits: int
    updated_at: str


class TemplateList(Response):
    items: list[TemplateOut]


# Grants and users ---------------------------------------------------------------------------


def _known_answer(value: object) -> object:
    if not isinstance(value, str) or value not in {answer.value for answer in GrantResult}:
        answers = ", ".join(GrantResult)
        raise ValueError(f"not one of {answers}: nothing of this report was recorded")
    return value


Answer = Annotated[GrantResult, BeforeValidator(_known_answer)]


class GrantsIn(Request):
    openid: OpenId
    results: dict[TemplateId, Answer] = Field(min_length=1, max_length=20)
    scene: int | str | None = None

    @model_validator(mode="before")
    @classmethod
    def drop_errmsg(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            results = {k: v for k, v in data["results"].items() if k != "errMsg"}
            data = {**data, "results": results}
        return data


class GrantsOut(Response):
    openid: str
    credits: dict[str, int]
    long_term: dict[str, LongTermStatus]


class SubscriptionItem(Response):
    template_id: str
    kind: TemplateKind
    credits: int
    next_expiry: str | None
    long_term: LongTermStatus | None
    last_result: GrantResult | None
    last_result_at: str | None
    should_prompt: bool
    reason: str


class MarketingBudgetOut(Response):
    per_week: int | None  # None: the app caps no marketing
    reason: Literal["base", "engaged", "fatigued", "switched_off"]
    until: str | None


class SubscriptionsOut(Response):
    openid: str
    items: list[SubscriptionItem]
    marketing_budget: MarketingBudgetOut


class PreferencesIn(Request):
    timezone: str | None = Field(default=None, max_length=64)
    opt_out_all: bool | None = None
    opt_out_categories: list[Category] | None = Field(default=None, max_length=3)
    opt_out_templates: list[TemplateId] | None = Field(default=None, max_length=200)

    @field_validator("opt_out_all", "opt_out_categories", "opt_out_templates", mode="before")
    @classmethod
    def null_clears(cls, value: object, info: ValidationInfo) -> object:
        """An explicit null switches the setting off, as a null timezone falls back to the app's."""
        if value is not None:
            return value
        return False if info.field_name == "opt_out_all" else []


class PreferencesOut(Response):
    openid: str
    timezone: str | None
    opt_out_all: bool
    opt_out_categories: list[Category]
    opt_out_templates: list[str]


# Messages -----------------------------------------------------------------------------------


class BestTimeIn(Request):
    within_hours: int = Field(ge=1, le=MAX_WITHIN_HOURS)


class BestTimeOut(Response):
    within_hours: int


class MessageIn(Request):
    openid: OpenId
    template_id: TemplateId
    data: dict[Annotated[str, Field(max_length=64)], str] = Field(max_length=30)
    page: Page | None = None
    send_at: AwareDatetime | None = None
    best_time: BestTimeIn | None = None
    urgent: bool = False
    lang: Lang | None = None

    @field_validator("best_time")
    @classmethod
    def not_with_send_at(cls, best: BestTimeIn | None, info: ValidationInfo) -> BestTimeIn | None:
        if best is not None and info.data.get("send_at") is not None:
            raise ValueError("give either send_at or best_time, not both")
        return best


class RescheduleIn(Request):
    send_at: AwareDatetime


class EventIn(Request):
    type: Literal["click", "conversion"]
    value: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"), decimal_places=4)


class ResultOut(Response):
    errcode: int | None
    errmsg: str | None
    msgid: int | None
    reason: str | None


class MessageOut(Response):
    id: str
    openid: str
    template_id: str
    status: MessageStatus
    send_at: str
    urgent: bool
    attempts: int
    result: ResultOut
    created_at: str
    sent_at: str | None
    clicked_at: str | None
    converted_at: str | None
    campaign_id: str | None
    variant: str | None
    send_time_reason: Literal["user_history", "app_history", "no_history"] | None


class MessageList(Response):
    items: list[MessageOut]
    next_cursor: str | None


class ListQuery(Request):
    status: MessageStatus | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=2048)


class CancelOut(Response):
    id: str
    status: MessageStatus


class EventOut(Response):
    id: str
    type: Literal["click", "conversion"]
    counted: bool


# Activity -----------------------------------------------------------------------------------


class ActivityEventIn(Request):
    openid: OpenId
    at: AwareDatetime
    kind: Literal["open", "purchase", "custom"]


class ActivityIn(Request):
    events: list[ActivityEventIn] = Field(min_length=1, max_length=500)


class ActivityOut(Response):
    accepted: int


# Campaigns ----------------------------------------------------------------------------------

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


# Statistics ---------------------------------------------------------------------------------


class StatsQuery(Request):
    from_: date = Field(alias="from")
    to: date
    template_id: TemplateId | None = None
    campaign_id: TemplateId | None = None

    @model_validator(mode="after")
    def ordered_and_bounded(self) -> StatsQuery:
        if self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        if (self.to - self.from_).days > 366:
            raise ValueError("at most 367 days at once")
        return self


class Counts(Response):
    requested: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0  # sends whose outcome WeChat never told (never resent)
    clicked: int = 0
    converted: int = 0
    grants_received: int = 0
    grants_expired: int = 0


class DayCounts(Counts):
    date: str


class Totals(Counts):
    delivery_rate: float | None
    click_rate: float | None
    conversion_rate: float | None


class StatsOut(Response):
    from_: str = Field(serialization_alias="from")
    to: str
    days: list[DayCounts]
    totals: Totals


# Misc ---------------------------------------------------------------------------------------


class Health(Response):
    status: str


class ErrorField(Response):
    field: str
    problem: str


class ErrorDetail(Response):
    code: str
    message: str
    fields: list[ErrorField] | None = None


class ErrorOut(Response):
    error: ErrorDetail
