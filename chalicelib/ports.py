"""The seams between the services and the outside world, and the errors that cross them.

Services depend on these protocols only; ``bootstrap`` plugs in DynamoDB, SQS, SSM and WeChat,
tests plug in the in-memory table and queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.dispatch import Envelope

if TYPE_CHECKING:
    # the store's vocabulary, as the services name it (types only: the values come from the
    # repositories and go back to them unread)
    from chalicelib.adapters.store.table import Check as Check
    from chalicelib.adapters.store.table import Cursor as Cursor
    from chalicelib.adapters.store.table import Item, Key, Query
    from chalicelib.adapters.store.table import Write as Write
    from chalicelib.adapters.webhook_http import Answer as WebhookAnswer
    from chalicelib.domain.outcomes import SendReport


class ConditionFailed(Exception):
    """A conditional write found the item in another state."""


class Transient(Exception):
    """The table did not take a request this time and wrote nothing; the same request may land
    a moment later (the retry policy of ``adapters.store.retry`` tries it again)."""


class Conflict(Transient):
    """Another transaction was writing one of the items (DynamoDB's ``TransactionConflict``)."""


class Throttled(Transient):
    """The table refused the request for its rate (after botocore's own retries)."""


class DeadlinePassed(Exception):
    """The table stayed busy (conflicts, throttles) until the work's deadline: nothing of the last
    attempt was written. The HTTP layer answers 503 ``unavailable`` with ``Retry-After``."""

    def __init__(self, retry_after_s: int, cause: str) -> None:
        super().__init__(f"the table stayed busy until the deadline ({cause})")
        self.retry_after_s = retry_after_s


class WriteName(StrEnum):
    """The names of the writes of a transaction: what a failed condition is reported by."""

    MESSAGE = "message"
    CREDIT = "credit"
    REFUND = "refund"
    CAP = "cap"
    STATS = "stats"
    CAMPAIGN = "campaign"
    WATCH = "watch"
    RECIPIENT = "recipient"
    PROGRESS = "progress"
    AUDIENCE = "audience"
    STILL_PAUSED = "still_paused"
    IDEMPOTENCY = "idempotency"
    RATE = "rate"
    PREFERENCES = "preferences"
    BUDGET = "budget"
    UNCLICKED = "unclicked"
    MSGID = "msgid"
    ENGAGEMENT = "engagement"
    FIRST_TIME = "first_time"
    POPUP = "popup"
    SWITCHED_OFF = "switched_off"
    GRANT = "grant"
    API_KEY = "key"
    API_KEY_LISTING = "listing"
    WEBHOOK = "webhook"  # an outbox delivery, keyed by event and endpoint

    def of(self, key: str) -> KeyedName:
        """One of several writes of this kind in one transaction (a recipient per openid)."""
        return KeyedName(self, key)


@dataclass(frozen=True)
class KeyedName:
    kind: WriteName
    key: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


Name = WriteName | KeyedName


def _checked(names: tuple[object, ...]) -> tuple[WriteName, ...]:
    wrong = [n for n in names if not isinstance(n, WriteName)]
    if wrong:
        raise TypeError(f"not write names: {wrong!r} (use WriteName)")
    return names  # type: ignore[return-value]


class TransactionFailed(Exception):
    """A transaction wrote nothing because the condition of the writes ``failed`` names did not
    hold (never because of a conflict: that is ``Conflict``, retried)."""

    def __init__(self, failed: frozenset[Name]) -> None:
        super().__init__(f"transaction canceled by {', '.join(sorted(map(str, failed)))}")
        self.failed = failed

    def on(self, *names: WriteName) -> bool:
        """Whether the condition of a write of one of ``names`` (keyed ones too) failed."""
        wanted = _checked(names)
        return any((n.kind if isinstance(n, KeyedName) else n) in wanted for n in self.failed)


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

    def commit(self, writes: Mapping[Name, Write], token: str | None = None) -> None:
        """All of ``writes`` or none (TransactionFailed naming the failed ones). ``token``: the
        same for every retry of one commit, so that a retry of a commit that was applied but
        whose answer was lost is answered as the first was, not applied again."""

    def delete_many(self, keys: Sequence[Key]) -> None: ...

    def answers(self) -> bool:
        """The table can be read now (readiness)."""


class Transaction:
    """A unit of work: named writes, committed together or not at all."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._writes: dict[Name, Write] = {}

    def add(self, name: Name, write: Write | None) -> Transaction:
        """Add ``write`` under ``name`` (None: nothing to add); names are unique."""
        if not isinstance(name, WriteName | KeyedName):
            raise TypeError(f"not a write name: {name!r} (use WriteName)")
        if write is None:
            return self
        if name in self._writes:
            raise ValueError(f"two writes named {name!r} in one transaction")
        self._writes[name] = write
        return self

    def commit(self) -> None:
        if self._writes:
            self._table.commit(self._writes)

    def commit_unless_lost(self, *names: WriteName) -> WriteName | None:
        """Commit; None when it landed. When the condition of a write of one of ``names`` failed
        (that write lost the race, nothing was written): the first of ``names`` that did. Any
        other failed condition is raised."""
        wanted = _checked(names)
        try:
            self.commit()
        except TransactionFailed as failed:
            lost = next((name for name in wanted if failed.on(name)), None)
            if lost is None:
                raise
            return lost
        return None


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


class WeChatRefused(Exception):
    """WeChat gave no access token (or template list): its ``errcode`` (None: no answer)."""

    errcode: int | None
    errmsg: str


class WeChat(Protocol):
    def access_token(self, appid: str, secret: str) -> str:
        """The app's access token (cached); WeChatRefused when WeChat does not give one."""

    def send(self, appid: str, secret: str, payload: dict[str, object]) -> SendReport: ...


class WebhookPoster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> WebhookAnswer:
        """POST one signed event; what the receiver answered (never raises)."""


LOCAL_STAGE = "local"
