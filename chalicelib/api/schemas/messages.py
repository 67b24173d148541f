"""Messages: a card to send or schedule, its moves and events, and how it is shown."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from chalicelib.api.schemas.base import OpenId, Page, Request, Response, TemplateId
from chalicelib.domain.engagement import MAX_WITHIN_HOURS
from chalicelib.domain.records import Lang, MessageStatus


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
