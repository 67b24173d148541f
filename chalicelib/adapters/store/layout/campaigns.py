"""The keys of campaigns: the item, its recipients, counters, the tick's registry and the
holders index."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.store.layout.catalog import app_partition
from chalicelib.adapters.store.layout.keys import ID_PATTERN, PK, SK, Key, exactly, sharded
from chalicelib.domain.clock import epoch_ms as epoch_ms


def campaigns_start(app_id: str, start: Mapping[str, Any]) -> Key:
    """A position in this app's campaign listing, rebuilt from ``start``; ValueError otherwise."""
    sort = start.get(SK)
    found = (
        re.fullmatch(rf"{campaigns_prefix()}({ID_PATTERN})", sort)
        if isinstance(sort, str)
        else None
    )
    if found is None:
        raise ValueError("not a position in the campaigns")
    return exactly(start, campaign_key(app_id, found[1]))


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
    return sharded(f"CSTATS#{app_id}#{campaign_id}", shard)


def campaign_stats_key(app_id: str, campaign_id: str, day: str, variant: str, shard: int) -> Key:
    """A campaign's counters per day and variant, spread over shards like the app's."""
    partition = campaign_stats_partition(app_id, campaign_id, shard)
    return {PK: partition, SK: f"DAY#{day}#V#{variant}#{shard}"}


def active_campaigns_partition() -> str:
    return "ACTIVE_CAMPAIGNS"


def active_campaign_key(app_id: str, campaign_id: str) -> Key:
    """Campaigns that still need the tick (scheduled, running, paused, finishing)."""
    return {PK: active_campaigns_partition(), SK: f"{app_id}#{campaign_id}"}
