"""How many shards of each sharded index may hold items: the sweeps' reading plan.

Writers spread items over the shard count their settings give; readers must read every shard an
item may sit in, including the shards of a larger count used before. One item records, per index,
the highest count in use, and since when the shards above the configured count were seen empty
(docs/storage.md#shard-counts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import Equals, Missing, Query, Update
from chalicelib.ports import ConditionFailed, Table


class ShardedIndex(StrEnum):
    """The indexes whose shard count is a setting."""

    DUE = "due"  # messages on the ``work`` index (``due_shards``)
    WEBHOOKS = "whk"  # webhook deliveries on the ``work`` index (``due_shards``)
    EXPIRY = "expiry"  # one-time credits on the ``expiry`` index (``expiry_shards``)


_PARTITIONS: dict[ShardedIndex, tuple[str, str, Callable[[int], str]]] = {
    ShardedIndex.DUE: (layout.WORK_INDEX, layout.WORK_PK, layout.work_shard),
    ShardedIndex.WEBHOOKS: (layout.WORK_INDEX, layout.WORK_PK, layout.webhook_work_shard),
    ShardedIndex.EXPIRY: (layout.EXPIRY_INDEX, layout.EXP_PK, layout.expiry_shard),
}


@dataclass(frozen=True)
class Mark:
    """The shard count recorded for an index (0: none yet) and since when (epoch ms) the shards
    above the configured count were seen empty (None: not seen empty)."""

    shards: int
    empty_since_ms: int | None


class ShardMarks:
    def __init__(self, table: Table) -> None:
        self.table = table

    def read(self, index: ShardedIndex) -> Mark:
        item = self.table.get(layout.shard_marks_key(), consistent=True) or {}
        since = item.get(f"{index}_empty_since")
        return Mark(int(item.get(str(index), 0)), None if since is None else int(since))

    def record(self, index: ShardedIndex, was: Mark, shards: int) -> bool:
        """Record ``shards`` for ``index`` unless the mark moved since it read ``was``."""
        return self._write(index, was, set={str(index): shards}, remove=(f"{index}_empty_since",))

    def seen_empty(self, index: ShardedIndex, was: Mark, since_ms: int | None) -> bool:
        """Record when the shards above the configured count were first seen empty (None: not)."""
        if since_ms is None:
            return self._write(index, was, remove=(f"{index}_empty_since",))
        return self._write(index, was, set={f"{index}_empty_since": since_ms})

    def holds_any(self, index: ShardedIndex, shard: int) -> bool:
        """Whether shard ``shard`` of ``index`` holds any item at all, due or not."""
        name, partition, value = _PARTITIONS[index]
        items, _ = self.table.query(Query(partition, value(shard), index=name, limit=1))
        return bool(items)

    def _write(
        self,
        index: ShardedIndex,
        was: Mark,
        set: dict[str, int] | None = None,
        remove: tuple[str, ...] = (),
    ) -> bool:
        unchanged = Equals(str(index), was.shards) if was.shards else Missing(str(index))
        write = Update(layout.shard_marks_key(), set=set or {}, remove=remove, condition=unchanged)
        try:
            self.table.write(write)
        except ConditionFailed:
            return False  # another sweep moved it first: its reading is as good
        return True
