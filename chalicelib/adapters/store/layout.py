"""The DynamoDB key layout: the only module that knows how records are keyed.

One table, four sparse GSIs:
- ``work``: messages that need attention, sharded ``due#<n>``, sorted by ``work_at`` (epoch ms);
- ``expiry``: unused one-time credits that expire, sharded ``exp#<n>``, sorted by ``exp_at``;
- ``by_user``: a user's messages, newest last, for listing and erasure; apart from them, the
  webhook deliveries about a user, for erasure;
- ``holders``: who holds a template (each unused credit, each active long-term grant), sharded
  ``HOLD#<app>#<template>#<n>`` by openid, sorted by openid: a campaign's ``holders`` audience.
``purge_at`` (epoch seconds) is the TTL attribute, used for retention only.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain.clock import epoch_ms as epoch_ms

PK, SK = "pk", "sk"
WORK_INDEX, WORK_PK, WORK_AT = "work", "work_pk", "work_at"
EXPIRY_INDEX, EXP_PK, EXP_AT = "expiry", "exp_pk", "exp_at"
USER_INDEX, USER_PK, USER_SK = "by_user", "user_pk", "user_sk"
HOLDERS_INDEX, HOLD_PK, HOLD_SK = "holders", "hold_pk", "hold_sk"
INDEXES = {
    WORK_INDEX: (WORK_PK, WORK_AT),
    EXPIRY_INDEX: (EXP_PK, EXP_AT),
    USER_INDEX: (USER_PK, USER_SK),
    HOLDERS_INDEX: (HOLD_PK, HOLD_SK),
}
LONG_TERM_HOLD = "~"  # the holders sort key's suffix of a long-term grant (after every credit)
TTL_ATTRIBUTE = "purge_at"
NEVER = "9999-12-31T23:59:59Z"

Key = dict[str, str]


def sortable(moment: datetime | None) -> str:
    return NEVER if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shard_of(identifier: str, shards: int) -> int:
    return zlib.crc32(identifier.encode()) % shards


def work_shard(n: int) -> str:
    return f"due#{n}"


def expiry_shard(n: int) -> str:
    return f"exp#{n}"


def shard_marks_key() -> Key:
    """How many shards of each sharded index the sweeps read (docs/storage.md#shard-counts)."""
    return {PK: "SHARDS", SK: "SHARDS"}


def app_key(app_id: str) -> Key:
    return {PK: "APPS", SK: f"APP#{app_id}"}


def rate_key(app_id: str, second: int, shard: int) -> Key:
    """The fixed window of the per-app rate limit: one second of an app, spread over a few
    counter items (each its own partition key) that concurrent requests rarely share."""
    return {PK: f"RATE#{app_id}#{second}#{shard}", SK: "RATE"}


def apps_partition() -> str:
    return "APPS"


def api_key_key(key_hash: str) -> Key:
    return {PK: f"KEY#{key_hash}", SK: "KEY"}


def api_key_ref_key(app_id: str, key_id: str) -> Key:
    return {PK: f"APP#{app_id}", SK: f"KEYREF#{key_id}"}


def template_key(app_id: str, template_id: str) -> Key:
    return {PK: f"APP#{app_id}", SK: f"TPL#{template_id}"}


def templates_prefix() -> str:
    return "TPL#"


def app_partition(app_id: str) -> str:
    return f"APP#{app_id}"


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


_SORTABLE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"
_ID = r"[A-Za-z0-9_-]{1,128}"


def user_messages_start(app_id: str, openid: str, start: Mapping[str, Any]) -> Key:
    """A position in this user's message listing, rebuilt from ``start`` (a client's cursor);
    ValueError when it is anything else: another user's, another app's, or no position at all."""
    sort = start.get(USER_SK)
    found = re.fullmatch(rf"{_SORTABLE}#({_ID})", sort) if isinstance(sort, str) else None
    if found is None:
        raise ValueError("not a position in a user's messages")
    own = {**message_key(found[1]), USER_PK: user_messages_partition(app_id, openid), USER_SK: sort}
    return _exactly(start, own)


def campaigns_start(app_id: str, start: Mapping[str, Any]) -> Key:
    """A position in this app's campaign listing, rebuilt from ``start``; ValueError otherwise."""
    sort = start.get(SK)
    found = re.fullmatch(rf"{campaigns_prefix()}({_ID})", sort) if isinstance(sort, str) else None
    if found is None:
        raise ValueError("not a position in the campaigns")
    return _exactly(start, campaign_key(app_id, found[1]))


def _exactly(start: Mapping[str, Any], own: Key) -> Key:
    if dict(start) != own:
        raise ValueError("a position in another listing")
    return own


def idempotency_key(app_id: str, protects: str, key: str) -> Key:
    """A client's Idempotency-Key, apart for each kind of record it protects (``protects`` has
    no ``#``, so no key of one kind can spell a key of another)."""
    return {PK: f"IDEM#{app_id}#{protects}#{key}", SK: "IDEM"}


def wechat_msgid_key(app_id: str, msgid: int) -> Key:
    return {PK: f"WXMSG#{app_id}#{msgid}", SK: "WXMSG"}


def callback_event_key(app_id: str, dedupe_key: str) -> Key:
    """Keyed by a hash of the dedupe tuple: it holds an openid, which erasure must not leave
    behind in a key that only the TTL would remove."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()
    return {PK: f"EVT#{app_id}#{digest}", SK: "EVT"}


# Counters (the app's statistics, a campaign's progress) are spread over shards, each shard its
# own partition key, so that no key takes more writes a second than DynamoDB gives one key. A
# writer picks one of its ``shards`` (at most COUNTER_SHARDS) per write; a reader sums every shard
# up to COUNTER_SHARDS, so changing the writers' count never hides an item (docs/storage.md).
COUNTER_SHARDS = 16


def _sharded(partition: str, shard: int) -> str:
    """Shard 0 keeps the partition key the counters had before they were spread."""
    return partition if shard == 0 else f"{partition}#{shard}"


def stats_key(app_id: str, day: str, template_id: str, shard: int) -> Key:
    return {PK: stats_partition(app_id, shard), SK: f"DAY#{day}#TPL#{template_id}#{shard}"}


def stats_partition(app_id: str, shard: int) -> str:
    return _sharded(f"STATS#{app_id}", shard)


def stats_range(first_day: str, last_day: str) -> tuple[str, str]:
    return f"DAY#{first_day}#", f"DAY#{last_day}#~"


# Campaigns ---------------------------------------------------------------------------------


def holders_shard(app_id: str, template_id: str, shard: int) -> str:
    return f"HOLD#{app_id}#{template_id}#{shard}"


def holder_sort(openid: str, suffix: str) -> str:
    return f"{openid}#{suffix}"


def campaign_key(app_id: str, campaign_id: str) -> Key:
    """Campaign ids are time-ordered, so the app's partition lists them newest first."""
    return {PK: app_partition(app_id), SK: f"CAMP#{campaign_id}"}


def campaigns_prefix() -> str:
    return "CAMP#"


def recipients_partition(app_id: str, campaign_id: str, shard: int) -> str:
    return f"CREC#{app_id}#{campaign_id}#{shard}"


def recipient_key(app_id: str, campaign_id: str, shard: int, openid: str) -> Key:
    return {PK: recipients_partition(app_id, campaign_id, shard), SK: openid}


def campaign_stats_partition(app_id: str, campaign_id: str, shard: int) -> str:
    return _sharded(f"CSTATS#{app_id}#{campaign_id}", shard)


def campaign_stats_key(app_id: str, campaign_id: str, day: str, variant: str, shard: int) -> Key:
    """A campaign's counters per day and variant, spread over shards like the app's."""
    partition = campaign_stats_partition(app_id, campaign_id, shard)
    return {PK: partition, SK: f"DAY#{day}#V#{variant}#{shard}"}


def active_campaigns_partition() -> str:
    return "ACTIVE_CAMPAIGNS"


def active_campaign_key(app_id: str, campaign_id: str) -> Key:
    """Campaigns that still need the tick (scheduled, running, paused, finishing)."""
    return {PK: active_campaigns_partition(), SK: f"{app_id}#{campaign_id}"}


# Webhooks ----------------------------------------------------------------------------------


def webhook_endpoint_key(app_id: str, endpoint_id: str) -> Key:
    """An app's endpoints sit in its partition, beside its templates and campaigns."""
    return {PK: app_partition(app_id), SK: f"{webhook_endpoints_prefix()}{endpoint_id}"}


def webhook_endpoints_prefix() -> str:
    return "WHK#"


def webhook_deliveries_partition(app_id: str, endpoint_id: str) -> str:
    return f"WHD#{app_id}#{endpoint_id}"


def webhook_delivery_key(app_id: str, endpoint_id: str, delivery_id: str) -> Key:
    """Event ids are time-ordered, so an endpoint's deliveries list newest first."""
    return {PK: webhook_deliveries_partition(app_id, endpoint_id), SK: delivery_id}


def webhook_user_partition(app_id: str, openid: str) -> str:
    """The webhook deliveries about one user, on the ``by_user`` index apart from the user's
    messages (which the listing reads), so that erasing the user finds them without a scan."""
    return f"UWHD#{app_id}#{openid}"


def webhook_user_sort(endpoint_id: str, delivery_id: str) -> str:
    return f"{delivery_id}#{endpoint_id}"


def webhook_work_shard(n: int) -> str:
    """Deliveries that need an attempt sit on the ``work`` index under shards of their own,
    which the due sweep of messages never reads."""
    return f"whk#{n}"


def webhook_deliveries_start(app_id: str, endpoint_id: str, start: Mapping[str, Any]) -> Key:
    """A position in this endpoint's delivery log, rebuilt from ``start``; ValueError otherwise."""
    sort = start.get(SK)
    found = re.fullmatch(r"evt_[0-9a-f]{28}", sort) if isinstance(sort, str) else None
    if found is None:
        raise ValueError("not a position in a delivery log")
    return _exactly(start, webhook_delivery_key(app_id, endpoint_id, sort))
