"""The keys of a user's partition (preferences, grant answers, credits, caps, engagement), the
app's activity histograms and messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.adapters.store.layout.keys import (
    ID_PATTERN,
    PK,
    SK,
    SORTABLE,
    USER_PK,
    USER_SK,
    Key,
    exactly,
    sortable,
)
from chalicelib.domain.clock import epoch_ms as epoch_ms


def user_partition(app_id: str, openid: str) -> str:
    return f"USER#{app_id}#{openid}"


def preferences_key(app_id: str, openid: str) -> Key:
    return {PK: user_partition(app_id, openid), SK: "PREFS"}


def grant_state_key(app_id: str, openid: str, template_id: str) -> Key:
    return {PK: user_partition(app_id, openid), SK: f"GRANT#{template_id}"}


def credit_key(
    app_id: str, openid: str, template_id: str, expires_at: datetime | None, credit_id: str
) -> Key:
    sk = f"CREDIT#{template_id}#{sortable(expires_at)}#{credit_id}"
    return {PK: user_partition(app_id, openid), SK: sk}


def credits_prefix(template_id: str | None = None) -> str:
    return "CREDIT#" if template_id is None else f"CREDIT#{template_id}#"


def cap_counter_key(app_id: str, openid: str, category: str, window: str) -> Key:
    return {PK: user_partition(app_id, openid), SK: f"CAP#{category}#{window}"}


def engagement_key(app_id: str, openid: str) -> Key:
    """One item per user: the activity histogram, clicks and the marketing streak."""
    return {PK: user_partition(app_id, openid), SK: "ENGAGE"}


def app_activity_partition(app_id: str) -> str:
    return f"ACTIVITY#{app_id}"


def app_activity_key(app_id: str, shard: int) -> Key:
    """The app's combined histogram, split over a few items that concurrent writes share."""
    return {PK: app_activity_partition(app_id), SK: f"SHARD#{shard}"}


ACTIVITY_PREFIX = "h"


def activity_attribute(era: int, hour: int) -> str:
    """The attribute of one hour of the week of one era: ``h<era>_<hour>``."""
    return f"{ACTIVITY_PREFIX}{era}_{hour}"


def activity_bucket(attribute: str) -> tuple[int, int] | None:
    """The (era, hour) an attribute holds, or None for another attribute."""
    era, sep, hour = attribute.removeprefix(ACTIVITY_PREFIX).partition("_")
    if not attribute.startswith(ACTIVITY_PREFIX) or not (sep and era.isdigit() and hour.isdigit()):
        return None
    return int(era), int(hour)


def cap_counter_of(sort_key: str) -> str:
    """``<category>#<window>`` of a cap counter's sort key."""
    return sort_key.removeprefix("CAP#")


def message_key(message_id: str) -> Key:
    return {PK: f"MSG#{message_id}", SK: "MSG"}


def user_messages_partition(app_id: str, openid: str) -> str:
    return f"UMSG#{app_id}#{openid}"


def user_messages_sort(created_at: datetime, message_id: str) -> str:
    return f"{sortable(created_at)}#{message_id}"


def user_messages_start(app_id: str, openid: str, start: Mapping[str, Any]) -> Key:
    """A position in this user's message listing, rebuilt from ``start`` (a client's cursor);
    ValueError when it is anything else: another user's, another app's, or no position at all."""
    sort = start.get(USER_SK)
    found = re.fullmatch(rf"{SORTABLE}#({ID_PATTERN})", sort) if isinstance(sort, str) else None
    if found is None:
        raise ValueError("not a position in a user's messages")
    own = {**message_key(found[1]), USER_PK: user_messages_partition(app_id, openid), USER_SK: sort}
    return exactly(start, own)
