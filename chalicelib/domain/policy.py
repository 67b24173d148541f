"""Send-time policy and the time arithmetic behind it: opt-outs, quiet hours, caps, retries.

Pure functions: every datetime in and out is timezone-aware UTC; local wall-clock arithmetic
goes through zoneinfo so DST changes are handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.records import (
    App,
    CapPeriod,
    Category,
    LongTermStatus,
    QuietHours,
    Template,
    TemplateKind,
)
from chalicelib.domain.users import GrantState, Preferences

WECHAT_QUOTA_TIMEZONE = "Asia/Shanghai"
WECHAT_QUOTA_RESET = time(0, 5)
# The host's own zone would mean different things on a laptop and in Lambda.
_HOST_DEPENDENT_ZONE = "localtime"


@dataclass(frozen=True)
class CapWindow:
    key: str
    ends_at: datetime


@dataclass(frozen=True)
class OptOut:
    """One way a user says no: a switch that is on, or a list that holds a value."""

    setting: str  # the Preferences field
    holds: str | None = None  # None: the switch itself; otherwise the value the list holds


def opt_outs(category: Category, template_id: str) -> tuple[OptOut, ...]:
    """What opts a user out of a message: the rule the API, the sender and the store share."""
    return (
        OptOut("opt_out_all"),
        OptOut("opt_out_categories", category.value),
        OptOut("opt_out_templates", template_id),
    )


def opted_out(prefs: Preferences, category: Category, template_id: str) -> bool:
    settings = prefs.model_dump(mode="json")
    return any(
        settings[o.setting] is True if o.holds is None else o.holds in settings[o.setting]
        for o in opt_outs(category, template_id)
    )


def exempt_from_quiet_hours(category: Category, urgent: bool) -> bool:
    return urgent or category is Category.TRANSACTIONAL


def quiet_until(now: datetime, timezone: str, quiet: QuietHours | None) -> datetime | None:
    if quiet is None or quiet.start == quiet.end:
        return None
    zone = ZoneInfo(timezone)
    local = _as_utc(now).astimezone(zone)
    if not _inside_window(local.time(), quiet):
        return None
    return _next_wall_time(now, zone, quiet.end, first_day=local.date())


def cap_window(now: datetime, timezone: str, period: CapPeriod) -> CapWindow:
    zone = ZoneInfo(timezone)
    today = _as_utc(now).astimezone(zone).date()
    if period is CapPeriod.DAY:
        ends_at = _next_wall_time(now, zone, time(0), first_day=today + timedelta(days=1))
        return CapWindow(key=f"d{today.isoformat()}", ends_at=ends_at)
    monday = today - timedelta(days=today.weekday())
    ends_at = _next_wall_time(now, zone, time(0), first_day=monday + timedelta(days=7))
    return CapWindow(key=f"w{monday.isoformat()}", ends_at=ends_at)


def next_daily_quota_reset(now: datetime) -> datetime:
    zone = ZoneInfo(WECHAT_QUOTA_TIMEZONE)
    today = _as_utc(now).astimezone(zone).date()
    return _next_wall_time(now, zone, WECHAT_QUOTA_RESET, first_day=today)


def retry_delay_s(attempt: int, base_s: int, cap_s: int = 900) -> int:
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return min(base_s * 2 ** (attempt - 1), cap_s)


def should_prompt(
    template: Template,
    credits: int,
    state: GrantState | None,
    now: datetime,
    refusal_memory: timedelta = timedelta(days=7),
) -> tuple[bool, str]:
    is_long_term = template.kind is TemplateKind.LONG_TERM
    if is_long_term and state is not None and state.long_term is LongTermStatus.ACTIVE:
        return False, "long_term_active"
    refused_at = state.last_refusal_at if state is not None else None
    if refused_at is not None and _as_utc(now) - refused_at < refusal_memory:
        return False, "recently_refused"
    if is_long_term:
        return True, "not_subscribed"
    if credits >= template.target_credits:
        return False, "enough_credits"
    return True, "below_target"


def user_timezone(prefs: Preferences | None, app: App) -> str:
    if prefs is not None and prefs.timezone:
        return prefs.timezone
    return app.timezone


def valid_timezone(name: str) -> bool:
    if name == _HOST_DEPENDENT_ZONE:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: the tzdata package answers a folder name ("America") with IsADirectoryError.
        return False
    return True


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def _inside_window(wall: time, quiet: QuietHours) -> bool:
    if quiet.start < quiet.end:
        return quiet.start <= wall < quiet.end
    return wall >= quiet.start or wall < quiet.end


def _next_wall_time(now: datetime, zone: ZoneInfo, at: time, first_day: date) -> datetime:
    """The first instant strictly after `now` when the wall clock in `zone` shows `at`,
    on `first_day` or later; a wall time skipped by DST resolves to the end of the gap."""
    now_utc = _as_utc(now)
    for offset_days in range(3):
        day = first_day + timedelta(days=offset_days)
        candidates = sorted(_resolve_wall_time(day, at, zone, fold) for fold in (0, 1))
        for candidate in candidates:
            if candidate > now_utc:
                return candidate
    raise AssertionError(f"no {at} in {zone.key} within three days of {first_day}")


def _resolve_wall_time(day: date, at: time, zone: ZoneInfo, fold: int) -> datetime:
    wall = datetime.combine(day, at, tzinfo=zone).replace(fold=fold)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant that skipped `wall`: the first valid instant after it."""
    # fold=0 reads the wall time with the offset before the jump, fold=1 with the one after,
    # so the transition lies between the two readings.
    before = wall.replace(fold=1).astimezone(UTC)
    after = wall.replace(fold=0).astimezone(UTC)
    before, after = min(before, after), max(before, after)
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after
