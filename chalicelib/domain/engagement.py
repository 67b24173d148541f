"""Engagement (docs/engagement.md): when each user is active, the best hour to send, and a marketing
budget that follows what the user does. Pure functions; every instant in and out is aware UTC.

Activity is a histogram of 168 hours (7 weekdays × 24 hours, Monday first, in the user's local
time). An event adds ``2 ** (age_of_its_era / HALF_LIFE)`` to its hour, so a histogram read at
any later instant is the exponentially decayed count without ever rewriting what is stored:
decay multiplies every hour by the same factor, so which hour is highest never depends on when
it is read. The weights restart at 1 every era (52 half-lives), which keeps them below 2**52.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from chalicelib.domain import policy
from chalicelib.domain.records import App, CapPeriod, Category, QuietHours
from chalicelib.domain.users import Bucket, Engagement

WEEK_HOURS = 7 * 24
HALF_LIFE = timedelta(days=28)
ERA = HALF_LIFE * 52
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
MIN_USER_EVENTS = 5  # fewer: the app's combined histogram decides
MIN_APP_EVENTS = 20  # fewer: no history, the card goes at once
MAX_WITHIN_HOURS = 72
EVENTS_MAX_AGE = timedelta(days=90)
CLOCK_SKEW = timedelta(seconds=60)  # an event this far ahead is the reporter's clock, not news

FATIGUE_AFTER_UNCLICKED = 3  # marketing cards in a row
FATIGUED_FOR = timedelta(days=14)
SWITCHED_OFF_FOR = timedelta(days=14)
ENGAGED_WITHIN = timedelta(days=28)

# An hour lends half its weight to each neighbour, a quarter two hours away, an eighth three:
# a user seen at 23:00 is likelier at 21:00 than at noon. The same hour of every day of the week
# adds its total: a habit seen on five days outweighs one event today at another hour, and the
# weekday itself still counts twice (Monday 15:00 beats Tuesday 15:00 for a Monday habit).
NEIGHBOUR_SHARES = (0.5, 0.25, 0.125)


class SendTimeReason(StrEnum):
    USER_HISTORY = "user_history"
    APP_HISTORY = "app_history"
    NO_HISTORY = "no_history"


class BudgetReason(StrEnum):
    BASE = "base"
    ENGAGED = "engaged"
    FATIGUED = "fatigued"
    SWITCHED_OFF = "switched_off"


# Activity ------------------------------------------------------------------------------------


def era_of(instant: datetime) -> int:
    return (instant - EPOCH) // ERA


def weight(instant: datetime) -> float:
    """What one event adds to its hour: 2 to the half-lives since its era began."""
    into_era = (instant - EPOCH) - ERA * era_of(instant)
    return float(2 ** (into_era / HALF_LIFE))


def hour_of_week(instant: datetime, timezone: str) -> int:
    local = instant.astimezone(ZoneInfo(timezone))
    return local.weekday() * 24 + local.hour


@dataclass(frozen=True)
class Tally:
    """Events summed per bucket: what one write adds to a histogram."""

    weights: Mapping[Bucket, float] = field(default_factory=dict)
    events: int = 0

    def plus(self, other: Tally) -> Tally:
        weights = dict(self.weights)
        for bucket, value in other.weights.items():
            weights[bucket] = weights.get(bucket, 0.0) + value
        return Tally(weights, self.events + other.events)


def tally(instants: Iterable[datetime], timezone: str) -> Tally:
    weights: dict[Bucket, float] = {}
    events = 0
    for instant in instants:
        bucket = (era_of(instant), hour_of_week(instant, timezone))
        weights[bucket] = weights.get(bucket, 0.0) + weight(instant)
        events += 1
    return Tally(weights, events)


def decayed(weights: Mapping[Bucket, float], now: datetime) -> list[float]:
    """The 168 hours as counts decayed to ``now`` (eras over two ago are negligible)."""
    current = era_of(now)
    hours = [0.0] * WEEK_HOURS
    for (era, hour), value in weights.items():
        if current - 1 <= era <= current and 0 <= hour < WEEK_HOURS:
            era_start = EPOCH + ERA * era
            hours[hour] += value * 2 ** (-((now - era_start) / HALF_LIFE))
    return hours


def smoothed(hours: Sequence[float]) -> list[float]:
    """Each hour blended with its neighbours (around the week), plus its hour of every day."""
    n = len(hours)
    local = [
        hours[i]
        + sum(
            share * (hours[(i - d) % n] + hours[(i + d) % n])
            for d, share in enumerate(NEIGHBOUR_SHARES, start=1)
        )
        for i in range(n)
    ]
    daily = [sum(local[h::24]) for h in range(24)]
    return [local[i] + daily[i % 24] for i in range(n)]


# Best send time ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """What a best time must respect besides the user's activity."""

    timezone: str
    quiet: QuietHours | None = None  # None: exempt (transactional, urgent) or no quiet hours
    cap_period: CapPeriod | None = None
    full_cap_windows: frozenset[str] = frozenset()  # cap windows with no send left


def candidates(now: datetime, within_hours: int, timezone: str) -> list[datetime]:
    """Now, then the start of every local hour before ``now + within_hours``."""
    zone = ZoneInfo(timezone)
    end = now + timedelta(hours=within_hours)
    first_hour = now.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    found = [now]
    for k in range(1, within_hours + 2):
        stepped = (first_hour + timedelta(hours=k)).astimezone(zone)
        start = stepped.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        if now < start < end and start > found[-1]:
            found.append(start)
    return found


def best_send_time(
    now: datetime, within_hours: int, window: Window, scores: Sequence[float] | None
) -> datetime:
    """The candidate with the highest score (ties: the earliest) outside quiet hours, in a cap
    window with a send left if any is; without scores, the earliest such candidate.

    When every candidate is quiet the card waits for the end of the quiet hours."""
    found = candidates(now, within_hours, window.timezone)
    awake = [c for c in found if policy.quiet_until(c, window.timezone, window.quiet) is None]
    if not awake:
        return policy.quiet_until(now, window.timezone, window.quiet) or now
    allowed = [c for c in awake if not _cap_full(c, window)] or awake
    if scores is None:
        return allowed[0]
    best = allowed[0]
    for candidate in allowed[1:]:
        if _score(candidate, window, scores) > _score(best, window, scores):
            best = candidate
    return best


def _score(instant: datetime, window: Window, scores: Sequence[float]) -> float:
    return scores[hour_of_week(instant, window.timezone)]


def _cap_full(instant: datetime, window: Window) -> bool:
    if window.cap_period is None or not window.full_cap_windows:
        return False
    key = policy.cap_window(instant, window.timezone, window.cap_period).key
    return key in window.full_cap_windows


# Marketing budget ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    per_week: int | None  # None: no marketing cap
    reason: BudgetReason
    until: datetime | None = None


def app_marketing_budget(app: App, engagement: Engagement, now: datetime) -> Budget:
    """A user's marketing budget under the app's settings: its marketing cap as the base."""
    cap = app.caps.get(Category.MARKETING)
    return marketing_budget(cap.limit if cap else None, engagement, now, app.adaptive_marketing)


def marketing_budget(
    base: int | None, engagement: Engagement, now: datetime, adaptive: bool
) -> Budget:
    """Marketing cards a user may get per cap window, and why (docs/engagement.md)."""
    if not adaptive:
        return Budget(base, BudgetReason.BASE)
    if engagement.switched_off_at is not None:
        until = engagement.switched_off_at + SWITCHED_OFF_FOR
        if now < until:
            return Budget(0, BudgetReason.SWITCHED_OFF, until)
    if engagement.unclicked >= FATIGUE_AFTER_UNCLICKED and engagement.last_unclicked_at:
        until = engagement.last_unclicked_at + FATIGUED_FOR
        if now < until:
            return Budget(0, BudgetReason.FATIGUED, until)
    if engagement.last_click_at is not None:
        until = engagement.last_click_at + ENGAGED_WITHIN
        if now < until:
            return Budget(None if base is None else base + 1, BudgetReason.ENGAGED, until)
    return Budget(base, BudgetReason.BASE)
