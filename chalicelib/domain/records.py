"""Stored records: what submsg keeps about apps, templates, credits and messages (campaigns:
``chalicelib.domain.campaign_records``; a user's own partition: ``chalicelib.domain.users``).

These models are the shapes persisted through the repositories of ``chalicelib.adapters.store``
(docs/storage.md); request and response shapes live in ``chalicelib.api.schemas``. Every datetime
is aware UTC.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class TemplateKind(StrEnum):
    ONE_TIME = "one_time"
    LONG_TERM = "long_term"


class Category(StrEnum):
    TRANSACTIONAL = "transactional"
    REMINDER = "reminder"
    MARKETING = "marketing"


class MiniprogramState(StrEnum):
    FORMAL = "formal"
    TRIAL = "trial"
    DEVELOPER = "developer"


class Lang(StrEnum):
    ZH_CN = "zh_CN"
    EN_US = "en_US"
    ZH_HK = "zh_HK"
    ZH_TW = "zh_TW"


class GrantSource(StrEnum):
    API = "api"
    CALLBACK = "callback"


class CallbackFormat(StrEnum):
    XML = "xml"
    JSON = "json"


class GrantResult(StrEnum):
    """A template's answer in wx.requestSubscribeMessage (and SubscribeStatusString)."""

    ACCEPT = "accept"
    ACCEPT_WITH_AUDIO = "acceptWithAudio"  # the user turned on the voice reminder
    ACCEPT_WITH_ALERT = "acceptWithAlert"  # a strong reminder
    ACCEPT_WITH_FORCE_PUSH = "acceptWithForcePush"  # a strong reminder
    REJECT = "reject"
    BAN = "ban"
    FILTER = "filter"

    @property
    def allows(self) -> bool:
        """Every kind of "allow" is worth one credit (or makes a long-term grant active)."""
        return self in ALLOWS


ALLOWS = frozenset(
    {
        GrantResult.ACCEPT,
        GrantResult.ACCEPT_WITH_AUDIO,
        GrantResult.ACCEPT_WITH_ALERT,
        GrantResult.ACCEPT_WITH_FORCE_PUSH,
    }
)


class LongTermStatus(StrEnum):
    ACTIVE = "active"
    REJECTED = "rejected"


class CapPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"


class FrequencyCap(Record):
    limit: int = Field(ge=0)
    period: CapPeriod


class QuietHours(Record):
    start: time
    end: time


def default_caps() -> dict[Category, FrequencyCap]:
    return {
        Category.MARKETING: FrequencyCap(limit=1, period=CapPeriod.WEEK),
        Category.REMINDER: FrequencyCap(limit=3, period=CapPeriod.DAY),
    }


class App(Record):
    app_id: str
    name: str
    timezone: str = "Asia/Shanghai"
    quiet_hours: QuietHours | None = QuietHours(start=time(22, 0), end=time(8, 0))
    caps: dict[Category, FrequencyCap] = Field(default_factory=default_caps)
    miniprogram_state: MiniprogramState = MiniprogramState.FORMAL
    lang: Lang = Lang.ZH_CN
    callback_format: CallbackFormat = CallbackFormat.XML
    grant_source: GrantSource = GrantSource.API
    requests_per_second: int = Field(default=100, ge=1, le=100_000)  # the API, all its keys
    adaptive_marketing: bool = True  # docs/engagement.md#the-marketing-budget
    created_at: datetime


class ApiKey(Record):
    key_id: str
    key_hash: str
    app_id: str
    created_at: datetime


class Keyword(Record):
    key: str
    name: str
    enum_values: list[str] = Field(default_factory=list)


class Template(Record):
    app_id: str
    template_id: str
    title: str
    kind: TemplateKind
    category: Category
    keywords: list[Keyword]
    default_page: str | None = None
    grant_ttl_days: int = Field(default=7, ge=0)
    target_credits: int = Field(default=1, ge=0)
    updated_at: datetime


class Credit(Record):
    """One accepted one-time grant: worth exactly one send until ``expires_at``."""

    credit_id: str
    template_id: str
    granted_at: datetime
    expires_at: datetime | None = None
    active_day: str | None = None  # the holder's last active day, as the holders index has it


class MessageStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    CANCELED = "canceled"


OPEN_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING)
# A card WeChat took, or may have (a click on an unknown one says it was delivered): only these
# can be clicked or lead to a conversion.
DELIVERED_STATUSES = (MessageStatus.SENT, MessageStatus.UNKNOWN)


class SendResult(Record):
    errcode: int | None = None
    errmsg: str | None = None
    msgid: int | None = None
    reason: str | None = None


class Message(Record):
    id: str
    app_id: str
    openid: str
    template_id: str
    kind: TemplateKind
    category: Category
    data: dict[str, str]
    page: str | None = None
    lang: Lang = Lang.ZH_CN
    miniprogram_state: MiniprogramState = MiniprogramState.FORMAL
    urgent: bool = False
    user_timezone: str | None = None  # the user's own setting when created; None = the app's
    send_at: datetime
    send_time_reason: str | None = None  # chosen by best_time: user_history, app_history, ...
    status: MessageStatus
    attempts: int = 0
    credit: Credit | None = None
    result: SendResult = Field(default_factory=SendResult)
    created_at: datetime
    sent_at: datetime | None = None
    clicked_at: datetime | None = None
    converted_at: datetime | None = None
    conversion_value: Decimal | None = None
    idempotency_key: str | None = None  # the client's key that created it, erased with it
    campaign_id: str | None = None  # sent for a campaign (docs/campaigns.md), as its ``variant``
    variant: str | None = None
