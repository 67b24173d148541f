"""Pushing events to a mini-program's callback URL as WeChat does.

Each push is sent from a thread of its own, so the action that caused it answers at once, signed
again at each attempt, and retried up to ``MAX_RETRIES`` times after a delay while the answer is
not ``success``. Every push, its attempts and their answers are kept for ``GET /sandbox/pushes``
and the page. Pushes go to 127.0.0.1 only.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import requests

from local.sandbox import events
from local.sandbox.base import Json
from local.sandbox.events import Event, Item, PushTarget

MAX_RETRIES = 3  # as WeChat: three more tries after the first
RETRY_DELAY_S = 5.0
PUSH_TIMEOUT_S = 5.0  # WeChat stops waiting for an answer after 5 s
ANSWER_LIMIT = 200  # characters of an answer kept in the record
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}


@dataclass(frozen=True)
class Attempt:
    at: float
    status: int | None  # None: no HTTP answer (refused, timed out)
    answer: str

    @property
    def delivered(self) -> bool:
        return self.status == 200 and self.answer == "success"


@dataclass
class PushRecord:
    push_id: int
    appid: str
    event: Event
    target: PushTarget
    payload: str  # the event before any encryption
    repeat_of: int | None = None
    state: str = "pending"  # pending | delivered | failed
    attempts: list[Attempt] = field(default_factory=list)

    def to_json(self) -> Json:
        return {
            "push_id": self.push_id,
            "appid": self.appid,
            "event": self.event.name,
            "openid": self.event.openid,
            "create_time": self.event.create_time,
            "url": self.target.callback_url,
            "mode": self.target.mode,
            "format": self.target.fmt,
            "payload": self.payload,
            "repeat_of": self.repeat_of,
            "state": self.state,
            "attempts": [vars(attempt) for attempt in self.attempts],
        }


def _post(record: PushRecord, timeout_s: float) -> Attempt:
    target = record.target
    events.require_loopback_url(target.callback_url)
    at = time.time()
    push = events.signed_push(
        target, record.appid, record.payload.encode(), str(int(at)), str(secrets.randbelow(10**10))
    )
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxy from the environment: 127.0.0.1 means here
            answer = session.post(
                target.callback_url,
                params=push.query,
                data=push.body,
                headers={"Content-Type": CONTENT_TYPES[target.fmt]},
                timeout=timeout_s,
                allow_redirects=False,
            )
    except requests.RequestException as exc:
        return Attempt(at, None, type(exc).__name__)
    return Attempt(at, answer.status_code, answer.text[:ANSWER_LIMIT])


class Pusher:
    """Push targets by appid, and every push made, behind one lock."""

    def __init__(self, retry_delay_s: float, timeout_s: float) -> None:
        self._retry_delay_s = retry_delay_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._targets: dict[str, PushTarget] = {}
        self._records: list[PushRecord] = []
        self._last_create_time: dict[tuple[str, str, str], int] = {}
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()

    def set_target(self, appid: str, target: PushTarget | None) -> None:
        with self._lock:
            if target is None:
                self._targets.pop(appid, None)
            else:
                self._targets[appid] = target

    def push(self, appid: str, name: str, openid: str, items: Sequence[Item]) -> int | None:
        """Push an event in the background; its push id, or None when the app has no target."""
        with self._lock:
            target = self._targets.get(appid)
            if target is None or not items:
                return None
            event = Event(name, openid, self._create_time(appid, openid, name), tuple(items))
            record = self._new_record(appid, event, target, repeat_of=None)
        self._start(record)
        return record.push_id

    def repeat(self, push_id: object) -> int:
        """Push an earlier event again, same CreateTime: a retry whose first answer was lost."""
        with self._lock:
            original = next((r for r in self._records if r.push_id == push_id), None)
            if original is None or isinstance(push_id, bool):
                raise ValueError(f"no push with push_id {push_id!r}")
            target = self._targets.get(original.appid, original.target)
            record = self._new_record(original.appid, original.event, target, original.push_id)
        self._start(record)
        return record.push_id

    def records(self) -> list[Json]:
        with self._lock:
            return [record.to_json() for record in self._records]

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every push has been answered or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def stop(self) -> None:
        """Give up the retries still waiting, and wait for the attempts under way."""
        self._stopping.set()
        self.wait_idle(self._timeout_s + 1)
        self._stopping.clear()

    def _create_time(self, appid: str, openid: str, name: str) -> int:
        # One second apart at least: submsg takes the same user, CreateTime and Event for a retry.
        key = (appid, openid, name)
        create_time = max(int(time.time()), self._last_create_time.get(key, 0) + 1)
        self._last_create_time[key] = create_time
        return create_time

    def _new_record(
        self, appid: str, event: Event, target: PushTarget, repeat_of: int | None
    ) -> PushRecord:
        payload = events.render(event, events.original_id(appid), target.fmt).decode("utf-8")
        record = PushRecord(len(self._records) + 1, appid, event, target, payload, repeat_of)
        self._records.append(record)
        return record

    def _start(self, record: PushRecord) -> None:
        thread = threading.Thread(
            target=self._deliver, args=(record,), name=f"sandbox-push-{record.push_id}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _deliver(self, record: PushRecord) -> None:
        try:
            for attempt in range(1 + MAX_RETRIES):
                if attempt and self._stopping.wait(self._retry_delay_s):
                    break
                outcome = _post(record, self._timeout_s)
                with self._lock:
                    record.attempts.append(outcome)
                    if outcome.delivered:
                        record.state = "delivered"
                        return
            with self._lock:
                record.state = "failed"
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
