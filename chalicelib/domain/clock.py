"""Time and identifiers. Every instant submsg handles is UTC, to the millisecond."""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import UTC, datetime

_last_id_ms = 0
_id_lock = threading.Lock()


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch: how the lifecycle's guards and the indexes sort instants."""
    return int(moment.timestamp() * 1000)


def to_utc_ms(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_id(prefix: str) -> str:
    """Time-ordered, unguessable id: prefix, 12 hex of epoch ms, 16 random hex.

    The ids one container makes are strictly increasing: one made in the millisecond of the
    last takes the next millisecond, so what is listed newest first never comes out shuffled.
    """
    global _last_id_ms
    with _id_lock:
        _last_id_ms = max(int(time.time() * 1000), _last_id_ms + 1)
        stamp = _last_id_ms
    return f"{prefix}_{stamp:012x}{secrets.token_hex(8)}"


def id_pattern(prefix: str) -> re.Pattern[str]:
    """Every id ``new_id(prefix)`` makes, and nothing else."""
    return re.compile(rf"{re.escape(prefix)}_[0-9a-f]{{28}}")


def zulu(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
