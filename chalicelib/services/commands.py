"""What the use cases are asked to do: plain values, built at the HTTP edge from the validated
request (``chalicelib.api.commands``) or by any other caller (the operator CLI, the local stack,
a campaign's fan-out). A service never sees a request model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from chalicelib.domain.campaign_records import Experiment, Variant
from chalicelib.domain.records import Category, Keyword, Lang, MessageStatus, TemplateKind

# Messages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewMessage:
    """A card to reserve a credit for: now, at ``send_at``, or at the user's best hour within
    ``best_time_within_hours``."""

    openid: str
    template_id: str
    data: Mapping[str, str]
    page: str | None = None
    send_at: datetime | None = None
    best_time_within_hours: int | None = None
    urgent: bool = False
    lang: Lang | None = None


@dataclass(frozen=True)
class Idempotent:
    """The client's idempotency key, and the hash of the request it came with (a replay with
    another request is refused)."""

    key: str
    request_hash: str


@dataclass(frozen=True)
class ListMessages:
    status: MessageStatus | None = None
    limit: int = 20
    cursor: str | None = None


EventType = Literal["click", "conversion"]


@dataclass(frozen=True)
class TrackEvent:
    type: EventType
    value: Decimal | None = None  # a conversion's value


# Activity ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityEvent:
    openid: str
    at: datetime
    kind: Literal["open", "purchase", "custom"]


# Templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PutTemplate:
    """A template's keywords, given as a list or as WeChat's content string to parse."""

    title: str
    kind: TemplateKind
    category: Category
    keywords: tuple[Keyword, ...] | None = None
    content: str | None = None
    default_page: str | None = None
    grant_ttl_days: int = 7
    target_credits: int = 1


# Preferences -------------------------------------------------------------------------------


class Keep(Enum):
    """A setting the change leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class ChangePreferences:
    """The settings to change; the others keep their value. A timezone of None falls back to
    the app's."""

    timezone: str | Keep | None = KEEP
    opt_out_all: bool | Keep = KEEP
    opt_out_categories: tuple[Category, ...] | Keep = KEEP
    opt_out_templates: tuple[str, ...] | Keep = KEEP

    def changes(self) -> dict[str, Any]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not KEEP}


# Campaigns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCampaign:
    """A campaign to create: for everyone holding a grant (``holders``, active within
    ``active_within_days``) or for a list of openids (``openids``; empty: a draft to fill), started
    at once unless ``start`` is false."""

    name: str
    template_id: str
    holders: bool
    active_within_days: int | None = None
    openids: tuple[str, ...] | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    page: str | None = None
    send_at: datetime | None = None
    rate_per_minute: int | None = None
    variants: tuple[Variant, ...] = ()
    experiment: Experiment | None = None
    best_time_within_hours: int | None = None
    start: bool = True
