"""The table's attributes, its indexes, and the keys every area shares: sortable times, shards,
the counters' spread and the check that a page's start is one of ours."""

from __future__ import annotations

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


SORTABLE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"


ID_PATTERN = r"[A-Za-z0-9_-]{1,128}"


def exactly(start: Mapping[str, Any], own: Key) -> Key:
    if dict(start) != own:
        raise ValueError("a position in another listing")
    return own


# Counters (the app's statistics, a campaign's progress) are spread over shards, each shard its
# own partition key, so that no key takes more writes a second than DynamoDB gives one key. A
# writer picks one of its ``shards`` (at most COUNTER_SHARDS) per write; a reader sums every shard
# up to COUNTER_SHARDS, so changing the writers' count never hides an item (docs/storage.md).
COUNTER_SHARDS = 16


def sharded(partition: str, shard: int) -> str:
    """Shard 0 keeps the partition key the counters had before they were spread."""
    return partition if shard == 0 else f"{partition}#{shard}"
