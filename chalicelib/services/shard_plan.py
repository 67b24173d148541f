"""How many shards a sweep reads: every shard an item may sit in (docs/storage.md#shard-counts).

A raised count is recorded at once (the sweep reads the new shards from its next run). A lowered
one is recorded only after the shards above it have stayed empty for ``LOWERING_GRACE_S``: the
containers of an earlier deployment may still write there for a while, and items scheduled
months ahead keep their shard until they are sent.
"""

from __future__ import annotations

from chalicelib.adapters.store.shard_marks import ShardedIndex
from chalicelib.domain import clock
from chalicelib.services.deps import Core
from chalicelib.settings import Settings

LOWERING_GRACE_S = 3600  # well beyond a Lambda's 15-minute ceiling
MOST_SHARDS = 64  # the settings' bound on a shard count

__all__ = ["LOWERING_GRACE_S", "MOST_SHARDS", "ShardedIndex", "configured", "shards_to_read"]


def configured(settings: Settings, index: ShardedIndex) -> int:
    """The shard count the writers of ``index`` use."""
    return settings.expiry_shards if index is ShardedIndex.EXPIRY else settings.due_shards


def shards_to_read(core: Core, index: ShardedIndex) -> int:
    """The shards of ``index`` this run reads: the configured count, or more while shards of an
    earlier, larger count may still hold items."""
    marks = core.store.shard_marks
    writers = configured(core.settings, index)
    mark = marks.read(index)
    if not mark.shards:  # never recorded: items may sit in any shard an earlier count used
        reading = max([writers, *(s + 1 for s in _holding(core, index, writers, MOST_SHARDS))])
        marks.record(index, mark, reading)
        return reading
    if mark.shards <= writers:
        if mark.shards < writers:
            marks.record(index, mark, writers)
        return writers
    left_behind = bool(_holding(core, index, writers, mark.shards))
    now_ms = int(clock.now().timestamp() * 1000)
    if left_behind:
        if mark.empty_since_ms is not None:
            marks.seen_empty(index, mark, None)
    elif mark.empty_since_ms is None:
        marks.seen_empty(index, mark, now_ms)
    elif now_ms - mark.empty_since_ms >= LOWERING_GRACE_S * 1000:
        marks.record(index, mark, writers)
    return mark.shards  # this run still reads them all


def _holding(core: Core, index: ShardedIndex, first: int, end: int) -> list[int]:
    """The shards from ``first`` to ``end`` that hold any item, asked 8 at a time."""
    from concurrent.futures import ThreadPoolExecutor  # rarely needed: not at a cold start

    shards = range(first, end)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(lambda shard: core.store.shard_marks.holds_any(index, shard), shards)
        return [shard for shard, holds in zip(shards, found, strict=True) if holds]
