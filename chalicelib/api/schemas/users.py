"""What the app tells about its users and reads of them: grants, subscriptions, preferences,
activity."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.api.schemas.base import OpenId, Request, Response, TemplateId
from chalicelib.domain.records import Category, GrantResult, LongTermStatus, TemplateKind


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


class ActivityEventIn(Request):
    openid: OpenId
    at: AwareDatetime
    kind: Literal["open", "purchase", "custom"]


class ActivityIn(Request):
    events: list[ActivityEventIn] = Field(min_length=1, max_length=500)


class ActivityOut(Response):
    accepted: int
