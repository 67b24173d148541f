"""Activity (docs/engagement.md#activity): events reported by the app, card clicks and popup taps,
kept as one decayed histogram per user and one per app; and the best send time read from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib.domain import clock, engagement, policy
from chalicelib.domain.engagement import SendTimeReason, Tally, Window
from chalicelib.domain.errors import FieldProblem, ValidationFailed
from chalicelib.domain.records import App, Category, Template
from chalicelib.domain.statistics import stats_day
from chalicelib.domain.users import UserState
from chalicelib.services.commands import ActivityEvent
from chalicelib.services.deps import Core


def record(core: Core, app: App, events: Sequence[ActivityEvent]) -> int:
    """One blind update per user (its events in its own timezone), one for the app; and the
    user's last active day, when the update shows that the events bring a later one."""
    now = clock.now()
    _check_moments(events, now)
    by_user: dict[str, list[datetime]] = {}
    for event in events:
        by_user.setdefault(event.openid, []).append(event.at)
    store = core.store
    zones = store.users.timezones(app.app_id, list(by_user))
    combined = Tally()
    for openid, moments in by_user.items():
        tally = engagement.tally(moments, zones[openid] or app.timezone)
        known = store.engagement.add_activity(app.app_id, openid, tally)
        day = stats_day(app, max(moments))
        if known is None or known < day:
            mark_active(core, app, openid, day)
        combined = combined.plus(tally)
    app_also_active(core, app, combined, shard_of=next(iter(by_user)))
    return len(events)


def mark_active(core: Core, app: App, openid: str, day: str) -> None:
    """The user's last active day moves on to ``day`` (the app's calendar) on the engagement
    item and on each of the user's holders index entries, where a campaign's
    ``active_within_days`` reads it: at most once a day per user, the engagement item's
    conditional update deciding."""
    store = core.store
    if store.engagement.mark_active(app.app_id, openid, day):
        store.users.mark_holders_active(app.app_id, openid, day)


def app_also_active(core: Core, app: App, tally: Tally, shard_of: str) -> None:
    """The app's combined histogram gets what a user's got (after the user's own write)."""
    core.store.engagement.add_app_activity(app.app_id, shard_of, tally)


def _check_moments(events: Sequence[ActivityEvent], now: datetime) -> None:
    oldest, latest = now - engagement.EVENTS_MAX_AGE, now + engagement.CLOCK_SKEW
    problems = [
        FieldProblem(f"events[{n}].at", "in the future" if e.at > latest else "older than 90 days")
        for n, e in enumerate(events)
        if not oldest <= e.at <= latest
    ]
    if problems:
        raise ValidationFailed("Some events are not within the last 90 days.", problems)


def best_time(
    core: Core,
    app: App,
    template: Template,
    state: UserState,
    within_hours: int,
    urgent: bool,
    now: datetime,
) -> tuple[datetime, SendTimeReason]:
    """The hour the user is most likely active within the window, respecting quiet hours and
    the template's cap; the app's habits for a user with little history."""
    window = _window(app, template, state, urgent, now)
    user = state.engagement
    if user.events >= engagement.MIN_USER_EVENTS:
        reason, weights = SendTimeReason.USER_HISTORY, user.weights
    else:
        combined = _app_tally(core, app)
        if combined.events >= engagement.MIN_APP_EVENTS:
            reason, weights = SendTimeReason.APP_HISTORY, combined.weights
        else:
            at = engagement.best_send_time(now, within_hours, window, None)
            return at, SendTimeReason.NO_HISTORY
    scores = engagement.smoothed(engagement.decayed(weights, now))
    return engagement.best_send_time(now, within_hours, window, scores), reason


def _window(app: App, template: Template, state: UserState, urgent: bool, now: datetime) -> Window:
    category = template.category
    quiet = None if policy.exempt_from_quiet_hours(category, urgent) else app.quiet_hours
    cap = app.caps.get(category)
    if cap is None:
        return Window(policy.user_timezone(state.preferences, app), quiet)
    limit = cap.limit
    if category is Category.MARKETING:
        budget = engagement.app_marketing_budget(app, state.engagement, now).per_week
        limit = cap.limit if budget is None else budget
    prefix = f"{category.value}#"
    full = frozenset(
        name.removeprefix(prefix)
        for name, sends in state.cap_counts.items()
        if name.startswith(prefix) and sends >= limit
    )
    return Window(policy.user_timezone(state.preferences, app), quiet, cap.period, full)


def _app_tally(core: Core, app: App) -> Tally:
    """The app's combined histogram, read at most once a cache period per container."""
    found = core.catalog_cache.app_tally(
        app.app_id, lambda: core.store.engagement.app_tally(app.app_id)
    )
    return found or Tally()
