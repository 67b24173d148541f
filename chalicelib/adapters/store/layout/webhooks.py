"""The keys of webhook endpoints and deliveries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.store.layout.catalog import app_partition
from chalicelib.adapters.store.layout.keys import PK, SK, Key, exactly
from chalicelib.domain.clock import epoch_ms as epoch_ms


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
    return exactly(start, webhook_delivery_key(app_id, endpoint_id, sort))
