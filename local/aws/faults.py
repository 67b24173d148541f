"""Faults injected at the rates ``SUBMSG_AWS_FAULTS`` sets, as DynamoDB and SQS produce them
under load (docs/local-stack.md#faults-of-aws-under-load).

``SUBMSG_AWS_FAULTS="conflict=0.05,throttle=0.03,lost=0.02,sqs_error=0.01,sqs_lost=0.01,seed=7"``:

- ``conflict``: a write meets a transaction in flight: ``TransactWriteItems`` is canceled
  (``TransactionCanceledException``, reason ``TransactionConflict`` on one of its items), a
  ``PutItem``/``UpdateItem``/``DeleteItem`` gets ``TransactionConflictException``. Nothing written.
- ``throttle``: any DynamoDB request is refused with ``ProvisionedThroughputExceededException``
  (botocore retries it a few times, then raises). Nothing written.
- ``lost``: a ``TransactWriteItems`` is applied, then its answer is an HTTP 500; botocore sends it
  again with the same ``ClientRequestToken``, which answers as the first did.
- ``sqs_error``: any SQS request answers HTTP 500 without being applied (botocore retries).
- ``sqs_lost``: a ``SendMessage``/``SendMessageBatch`` is applied, then its answer is an HTTP 500;
  botocore sends it again: the message lands twice.
- ``seed``: the seed of the draws (the same seed and the same requests draw the same faults).
- ``hold_ms``: how long a transaction holds its items before it applies (a wider window makes
  conflicts between real transactions likelier); 0 unless set.

Rates are between 0 and 1. An unknown name or a rate outside 0–1 is ``FaultsError``, one line.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields

VARIABLE = "SUBMSG_AWS_FAULTS"
RATES = ("conflict", "throttle", "lost", "sqs_error", "sqs_lost")
MAX_HOLD_MS = 10_000


class FaultsError(ValueError):
    """``SUBMSG_AWS_FAULTS`` does not say which faults at which rates (the message is one line)."""


@dataclass(frozen=True)
class Faults:
    conflict: float = 0.0
    throttle: float = 0.0
    lost: float = 0.0
    sqs_error: float = 0.0
    sqs_lost: float = 0.0
    seed: int | None = None
    hold_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``name=value`` pairs separated by commas; an empty text is no fault."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float | int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, equals, raw = (s.strip() for s in part.partition("="))
            if name not in known:
                raise FaultsError(
                    f"{VARIABLE}: unknown fault {name!r} (known: {', '.join(sorted(known))})"
                )
            if not equals or name in values:
                raise FaultsError(f"{VARIABLE}: write {name} once, as {name}=<value>")
            values[name] = _value(name, raw)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_environment(cls) -> Faults:
        return cls.parse(os.environ.get(VARIABLE, ""))

    def __str__(self) -> str:
        shown = [f"{name}={getattr(self, name):g}" for name in RATES if getattr(self, name)]
        if self.hold_ms:
            shown.append(f"hold_ms={self.hold_ms:g}")
        if self.seed is not None and shown:
            shown.append(f"seed={self.seed}")
        return ",".join(shown) or "none"


def _value(name: str, raw: str) -> float | int:
    if name == "seed":
        try:
            return int(raw)
        except ValueError:
            raise FaultsError(f"{VARIABLE}: seed must be an integer, not {raw!r}") from None
    try:
        value = float(raw)
    except ValueError:
        raise FaultsError(f"{VARIABLE}: {name} must be a number, not {raw!r}") from None
    if name == "hold_ms":
        if not 0 <= value <= MAX_HOLD_MS:
            raise FaultsError(f"{VARIABLE}: hold_ms must be between 0 and {MAX_HOLD_MS}")
    elif not 0 <= value <= 1:
        raise FaultsError(f"{VARIABLE}: the rate of {name} must be between 0 and 1, not {raw}")
    return value


class Injector:
    """Draws the faults of ``faults`` (thread-safe, seeded) and counts those it injected."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.injected: Counter[str] = Counter()
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()

    def draw(self, name: str) -> bool:
        rate = getattr(self.faults, name)
        if not rate:
            return False
        with self._lock:
            hit = self._random.random() < rate
            if hit:
                self.injected[name] += 1
        return hit

    def choice(self, count: int) -> int:
        with self._lock:
            return self._random.randrange(count)


_active = Injector(Faults())


def active() -> Injector:
    return _active


def configure(faults: Faults) -> Injector:
    """Inject ``faults`` from now on in this process; the injector counts what it injects."""
    global _active
    _active = Injector(faults)
    return _active


@contextlib.contextmanager
def injecting(faults: Faults | str) -> Iterator[Injector]:
    """``faults`` for the duration (tests), then none again."""
    injector = configure(Faults.parse(faults) if isinstance(faults, str) else faults)
    try:
        yield injector
    finally:
        configure(Faults())
