"""WeChat's answers to a send, and what submsg does with each (docs/rules.md, "WeChat errors")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

TOKEN_ERRORS = frozenset({40001, 40014, 42001})


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DEFER_DAILY_QUOTA = "defer_daily_quota"
    NO_SUBSCRIPTION = "no_subscription"  # 43101
    REJECTED = "rejected"  # permanent content/addressing errors: no retry, refund
    UNKNOWN = "unknown"  # read timeout after the request was sent, or unreadable 2xx answer


_OUTCOMES: dict[int, Outcome] = {
    0: Outcome.SENT,
    **dict.fromkeys((-1, 45011, 43108, *TOKEN_ERRORS), Outcome.RETRY),
    45009: Outcome.DEFER_DAILY_QUOTA,
    43101: Outcome.NO_SUBSCRIPTION,
    **dict.fromkeys((40003, 40037, 41030, 43107, 45168, 47003), Outcome.REJECTED),
}


def classify(errcode: int) -> Outcome:
    # Unlisted codes: negative ones are WeChat's "system busy" family and worth a retry; positive
    # ones are request errors that would fail again: the message fails and its credit is refunded.
    return _OUTCOMES.get(errcode, Outcome.RETRY if errcode < 0 else Outcome.REJECTED)


@dataclass(frozen=True)
class SendReport:
    outcome: Outcome
    errcode: int | None
    errmsg: str
    msgid: int | None = None
