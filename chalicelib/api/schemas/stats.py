"""Daily statistics, of an app, a template or a campaign."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from chalicelib.api.schemas.base import Request, Response, TemplateId


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
