"""The in-memory table under load: requests answered as DynamoDB answers them when a transaction
conflicts or a request is throttled (nothing written), as a test scripts them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import bootstrap
from chalicelib.adapters.store import table as t
from chalicelib.adapters.store.memory import MemoryTable
from chalicelib.adapters.store.table import Cursor, Item, Key
from chalicelib.bootstrap import Adapters
from chalicelib.ports import Name, Transient

Matches = Callable[[Any], bool]


@dataclass
class _Fault:
    operation: str  # "write", "commit", "get", "query", ...
    error: type[Transient]
    times: int | None  # None: every matching request, until cleared
    matches: Matches


class FaultyTable:
    """The Table port of a MemoryTable; a request a scripted fault matches fails with it (and
    writes nothing), every other one is the memory table's. ``failed`` lists what failed."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.faults: list[_Fault] = []
        self.failed: list[tuple[str, str]] = []  # (operation, error name), in order

    def fail(
        self,
        operation: str,
        error: type[Transient],
        times: int | None = 1,
        matches: Matches = lambda request: True,
    ) -> FaultyTable:
        self.faults.append(_Fault(operation, error, times, matches))
        return self

    def clear(self) -> None:
        self.faults.clear()

    def _maybe_fail(self, operation: str, request: Any) -> None:
        for fault in self.faults:
            if fault.operation != operation or not fault.matches(request):
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
            self.failed.append((operation, fault.error.__name__))
            raise fault.error(f"injected on {operation}")

    def get(self, key: Key, consistent: bool = False) -> Item | None:
        self._maybe_fail("get", key)
        return self.table.get(key, consistent)

    def get_many(self, keys: Sequence[Key]) -> list[Item]:
        self._maybe_fail("get_many", keys)
        return self.table.get_many(keys)

    def write(self, write: t.Write, return_new: bool = False) -> Item | None:
        self._maybe_fail("write", write)
        return self.table.write(write, return_new)

    def query(
        self, query: t.Query, start: Cursor | None = None
    ) -> tuple[list[Item], Cursor | None]:
        self._maybe_fail("query", query)
        return self.table.query(query, start)

    def query_all(self, query: t.Query) -> Iterator[Item]:
        return t.all_pages(self.query, query)

    def commit(self, writes: Mapping[Name, t.Write]) -> None:
        self._maybe_fail("commit", writes)
        self.table.commit(writes)

    def delete_many(self, keys: Sequence[Key]) -> None:
        self._maybe_fail("delete_many", keys)
        self.table.delete_many(keys)

    def answers(self) -> bool:
        return True


def with_faults(memory: Any) -> FaultyTable:
    """Every container built from now on (by the in-memory backend ``memory``) reads and writes
    through one FaultyTable over its table."""
    faulty = FaultyTable(memory.table)
    bootstrap.use(lambda settings: Adapters(faulty, memory.queue, memory.secrets))
    return faulty


def writes_named(*names: str) -> Matches:
    """A transaction holding a write of each of ``names``."""
    return lambda writes: set(names) <= set(writes)


def lambda_context(remaining_s: float) -> Any:
    """Lambda's context object as the handlers read it: the time left of the invocation."""

    class Context:
        function_name = "submsg-dev-send_worker"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:submsg-dev"
        aws_request_id = "00000000-0000-0000-0000-000000000001"

        def get_remaining_time_in_millis(self) -> int:
            return int(remaining_s * 1000)

    return Context()
