"""Time and identifiers. Every instant submsg handles is UTC, to the millisecond."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def to_utc_ms(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_id(prefix: str) -> str:
    """Time-ordered, unguessable id: prefix, 12 hex of epoch ms, 16 random hex."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def id_pattern(prefix: str) -> re.Pattern[str]:
    """Every id ``new_id(prefix)`` makes, and nothing else."""
    return re.compile(rf"{re.escape(prefix)}_[0-9a-f]{{28}}")


def zulu(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
