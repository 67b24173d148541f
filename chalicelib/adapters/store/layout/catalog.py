"""The keys of apps, API keys, templates, the rate window, idempotency keys, WeChat's msgid
pointers, callback events and the app's statistics."""

from __future__ import annotations

import hashlib

from chalicelib.adapters.store.layout.keys import PK, SK, Key, sharded
from chalicelib.domain.clock import epoch_ms as epoch_ms


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


def stats_key(app_id: str, day: str, template_id: str, shard: int) -> Key:
    return {PK: stats_partition(app_id, shard), SK: f"DAY#{day}#TPL#{template_id}#{shard}"}


def stats_partition(app_id: str, shard: int) -> str:
    return sharded(f"STATS#{app_id}", shard)


def stats_range(first_day: str, last_day: str) -> tuple[str, str]:
    return f"DAY#{first_day}#", f"DAY#{last_day}#~"
