"""The seams between the services and the outside world, and the errors that cross them.

Services depend on these protocols only; ``bootstrap`` plugs in DynamoDB, SQS, SSM and WeChat,
tests plug in the in-memory table and queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.dispatch import Envelope

if TYPE_CHECKING:
    from chalicelib.adapters.cache import TtlCache
    from chalicelib.adapters.store import Store
    from chalicelib.adapters.store.table import Cursor, Item, Key, Query, Write
    from chalicelib.domain.outcomes import SendReport
    from chalicelib.settings import Settings


class ConditionFailed(Exception):
    """A conditional write found the item in another state."""


class TransactionFailed(Exception):
    """A transaction wrote nothing; ``failed`` names the operations whose condition failed.

    ``conflict``: another transaction held one of the items (DynamoDB retried it already).
    """

    def __init__(self, failed: frozenset[str], conflict: bool = False) -> None:
        reason = ", ".join(sorted(failed)) if failed else "a conflict"
        super().__init__(f"transaction canceled by {reason}")
        self.failed = failed
        self.conflict = conflict

    def on(self, *names: str) -> bool:
        """Whether the condition of one of ``names`` failed."""
        return bool(self.failed.intersection(names))


class Table(Protocol):
    """One table of items keyed by ``pk`` and ``sk``, with sparse secondary indexes."""

    def get(self, key: Key, consistent: bool = False) -> Item | None: ...

    def get_many(self, keys: Sequence[Key]) -> list[Item]:
        """The items of ``keys`` that exist, in no particular order (eventually consistent)."""

    def write(self, write: Write, return_new: bool = False) -> Item | None:
        """One conditional write; ConditionFailed when its condition does not hold.

        Put answers the item it replaced; Update with ``return_new`` the item as it is now.
        """

    def query(self, query: Query, start: Cursor | None = None) -> tuple[list[Item], Cursor | None]:
        """One page, and where the next one starts (None at the end)."""

    def query_all(self, query: Query) -> Iterator[Item]: ...

    def commit(self, writes: Mapping[str, Write]) -> None:
        """All of ``writes`` or none (TransactionFailed naming the failed ones)."""

    def delete_many(self, keys: Sequence[Key]) -> None: ...

    def answers(self) -> bool:
        """The table can be read now (readiness)."""


class Transaction:
    """A unit of work: named writes, committed together or not at all."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._writes: dict[str, Write] = {}

    def add(self, name: str, write: Write | None) -> Transaction:
        """Add ``write`` under ``name`` (None: nothing to add); names are unique."""
        if write is None:
            return self
        if name in self._writes:
            raise ValueError(f"two writes named {name!r} in one transaction")
        self._writes[name] = write
        return self

    def commit(self) -> None:
        if self._writes:
            self._table.commit(self._writes)


class QueueUnavailable(Exception):
    """The queue did not take a message (transport or service error)."""


class SendQueue(Protocol):
    def send(self, envelope: Envelope) -> None:
        """Enqueue one message; QueueUnavailable when the queue did not take it."""

    def send_batch(self, envelopes: Sequence[Envelope]) -> set[int]:
        """Enqueue many; the indexes the queue accepted."""

    def postpone(self, receipt_handle: str, seconds: int) -> None: ...


class Secrets(Protocol):
    def get(self, app_id: str, name: str) -> str:
        """The app's secret; MissingSecret when it is not configured."""

    def put(self, app_id: str, name: str, value: str) -> None: ...


class MissingSecret(Exception):
    """The app has no such secret."""


APP_SECRET = "app_secret"
CALLBACK_TOKEN = "callback_token"
ENCODING_AES_KEY = "encoding_aes_key"
SECRET_NAMES = (APP_SECRET, CALLBACK_TOKEN, ENCODING_AES_KEY)


class WeChat(Protocol):
    def send(self, appid: str, secret: str, payload: dict[str, object]) -> SendReport: ...


@dataclass
class Services:
    """What the services work with: settings, the store and the outside world's ports."""

    settings: Settings
    store: Store
    queue: SendQueue
    secrets: Secrets
    config: TtlCache[Any]
    campaign_statuses: TtlCache[Any]  # what the sender sees of campaigns (sender_gate.Seen)
    _wechat: WeChat | None = field(default=None, repr=False)
    ready_until: float = field(default=0.0, repr=False)  # monotonic; see services.health

    @property
    def wechat(self) -> WeChat:
        """The WeChat client, built on first use (importing requests only then)."""
        if self._wechat is None:
            from chalicelib.adapters.wechat import WeChatClient, WeChatConfig

            self._wechat = WeChatClient(
                WeChatConfig(
                    api_base=self.settings.wechat_api_base.rstrip("/"),
                    connect_timeout_s=self.settings.wechat_connect_timeout_s,
                    read_timeout_s=self.settings.wechat_read_timeout_s,
                )
            )
        return self._wechat
